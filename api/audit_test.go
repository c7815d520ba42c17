package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/api"
	"fieldsync/devstack/devtest"
	"fieldsync/field"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
)

type auditAnswer struct {
	Collection string
	ID         string
	Entries    []fieldsync.AuditEntry
}

func mustAudit(tb testing.TB, srv *api.Server, s session, coll, id string) []fieldsync.AuditEntry {
	tb.Helper()
	var out auditAnswer
	mustDo(tb, srv, "GET", "/v1/audit/"+coll+"/"+id, "", s.Headers(), 200, &out)
	return out.Entries
}

// changeOf returns the change of field in e, or nil.
func changeOf(e fieldsync.AuditEntry, field string) *fieldsync.AuditChange {
	for i := range e.Changes {
		if e.Changes[i].Field == field {
			return &e.Changes[i]
		}
	}
	return nil
}

// checkChain fails unless entries (newest first) are versions n..1, each
// linked to the next older one.
func checkChain(tb testing.TB, entries []fieldsync.AuditEntry, n int64) {
	tb.Helper()
	if int64(len(entries)) != n {
		tb.Fatalf("got %d entries, want %d: %+v", len(entries), n, entries)
	}
	for i, e := range entries {
		if e.Version != n-int64(i) {
			tb.Fatalf("entry %d is of version %d, want %d", i, e.Version, n-int64(i))
		}
		if i+1 < len(entries) && e.PrevHash != entries[i+1].Hash {
			tb.Fatalf("version %d links to %s, want the hash of version %d %s", e.Version, e.PrevHash, entries[i+1].Version, entries[i+1].Hash)
		}
	}
	if last := entries[len(entries)-1]; last.PrevHash != "" {
		tb.Fatalf("the first entry links to %q, want nothing", last.PrevHash)
	}
}

// TestAuditTrailOfEveryKindOfChange: create, update, action, delete and a
// server job's change each leave an entry — who, device, server and device
// time, mutation, old → new — chained by hash; the chain verifies.
func TestAuditTrailOfEveryKindOfChange(t *testing.T) {
	clock := devtest.NewClock()
	srv := newFullServerWith(t, func(c *fullConfig) { c.Sync.Now = clock.Now })
	users := mustSeedUsers(t, srv)
	cs := mustLoginSession(t, srv, "cs.a1", "")
	super := mustLoginSession(t, srv, "super.a1", "")
	tech := mustLoginSession(t, srv, "tech.a1", "")
	ctx := context.Background()

	// create, with the device's time
	id := uuid.NewString()
	m := create(wo, id, map[string]any{"site_id": fieldsync.DemoSiteA, "title": "Lift stuck", "priority": "urgent",
		"owner_phone": "13900000003"})
	deviceTime := clock.Now().Add(-3 * time.Minute).Format(time.RFC3339)
	m["client_time"] = deviceTime
	createMID := uuid.NewString()
	m["mutation_id"] = createMID
	wfOne(t, srv, cs, fieldsync.StatusApplied, m)
	// update
	r := wfOne(t, srv, cs, fieldsync.StatusApplied, update(wo, id, 1, map[string]any{"title": "Lift stuck on 3F"}))
	// action
	r = wfOne(t, srv, cs, fieldsync.StatusApplied, action(wo, id, r.Version, "assign", map[string]any{"assignee_id": users["tech.a1"].ID}))
	r = wfOne(t, srv, tech, fieldsync.StatusApplied, action(wo, id, r.Version, "accept", nil))
	_ = r
	// a server job: an order nobody accepted past its respond-by
	late, _ := wfOrder(t, srv, cs, nil)
	clock.Advance(10 * time.Minute)
	if _, err := depsOf(t, srv).Engine.RunJobsOnce(ctx, fsync.JobOptions{Holder: "t", Jobs: field.Jobs}); err != nil {
		t.Fatal(err)
	}
	// delete: an inspection by its reporter
	guard := mustLoginSession(t, srv, "guard.a1", "")
	ins := uuid.NewString()
	wfOne(t, srv, guard, fieldsync.StatusApplied, create(in, ins, map[string]any{"site_id": fieldsync.DemoSiteA,
		"category": "sanitation", "description": "垃圾桶满了"}))
	wfOne(t, srv, guard, fieldsync.StatusApplied, del(in, ins, 1))

	es := mustAudit(t, srv, super, wo, id)
	checkChain(t, es, 4)
	first := es[3]
	if first.Op != "create" || first.MutationID != createMID || first.UserID != users["cs.a1"].ID || first.DeviceID != cs.DeviceID ||
		first.ClientTime != deviceTime || first.At.IsZero() || first.UserName == "" {
		t.Fatalf("create entry: got %+v", first)
	}
	if c := changeOf(first, "title"); c == nil || string(c.Old) != "null" || string(c.New) != `"Lift stuck"` {
		t.Fatalf("create entry's title change: got %+v", c)
	}
	if c := changeOf(es[2], "title"); es[2].Op != "update" || c == nil || string(c.Old) != `"Lift stuck"` || string(c.New) != `"Lift stuck on 3F"` {
		t.Fatalf("update entry: got %+v", es[2])
	}
	if c := changeOf(es[1], "status"); es[1].Op != "action" || es[1].Action != "assign" || c == nil || string(c.New) != `"assigned"` {
		t.Fatalf("assign entry: got %+v", es[1])
	}
	if es[0].Action != "accept" || es[0].UserID != users["tech.a1"].ID || es[0].DeviceID != tech.DeviceID {
		t.Fatalf("accept entry: got %+v", es[0])
	}
	// An append-only list keeps only what the version added: one timeline entry, not the whole timeline.
	if c := changeOf(es[0], "timeline"); c == nil || !c.Appended || string(c.Old) != "null" || strings.Count(string(c.New), `"action"`) != 1 ||
		!strings.Contains(string(c.New), `"accept"`) {
		t.Fatalf("accept entry's timeline change: got %+v", c)
	}
	// The job's change is the server's.
	js := mustAudit(t, srv, super, wo, late)
	checkChain(t, js, 2)
	if js[0].UserID != "server" || js[0].DeviceID != "server" || changeOf(js[0], "respond_breached") == nil {
		t.Fatalf("job entry: got %+v", js[0])
	}
	// The delete.
	ds := mustAudit(t, srv, super, in, ins)
	checkChain(t, ds, 2)
	if c := changeOf(ds[0], "description"); ds[0].Op != "delete" || c == nil || string(c.New) != "null" {
		t.Fatalf("delete entry: got %+v", ds[0])
	}
	// Manager and admin read it; the desk agent, field staff and other tenants do not.
	mustAudit(t, srv, mustLoginSession(t, srv, "manager.a1", ""), wo, id)
	mustAudit(t, srv, mustLoginSession(t, srv, "admin", ""), wo, id)
	for _, who := range []string{"cs.a1", "tech.a1", "guard.a1", "cs.b1", "other/admin"} {
		s := mustLoginSession(t, srv, who, "")
		mustDo(t, srv, "GET", "/v1/audit/work_orders/"+id, "", s.Headers(), 404, nil)
	}
	mustDo(t, srv, "GET", "/v1/audit/nope/"+id, "", super.Headers(), 404, nil)
	// Nobody writes it through the API.
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		mustDo(t, srv, method, "/v1/audit/work_orders/"+id, "{}", super.Headers(), 405, nil)
	}
	v, err := depsOf(t, srv).Engine.VerifyAudit(ctx, fieldsync.DemoTenant, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Problems) != 0 || v.Entries < 8 || v.Uncommitted != 0 {
		t.Fatalf("verify: got %+v", v)
	}
}

// TestAuditDetectsTampering: an entry edited in the database — its content,
// or its content and its hash — or removed is reported by the verifier, at
// that record and version.
func TestAuditDetectsTampering(t *testing.T) {
	srv := newFullServer(t)
	cs := mustLoginSession(t, srv, "cs.a1", "")
	id, r := wfOrder(t, srv, cs, nil)
	r = wfOne(t, srv, cs, fieldsync.StatusApplied, update(wo, id, r.Version, map[string]any{"title": "Sink leaking again"}))
	wfOne(t, srv, cs, fieldsync.StatusApplied, update(wo, id, r.Version, map[string]any{"notes": "owner home after 6pm"}))
	d := depsOf(t, srv)
	ctx := context.Background()
	verify := func() fieldsync.AuditVerification {
		t.Helper()
		v, err := d.Engine.VerifyAudit(ctx, fieldsync.DemoTenant, wo, id)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := verify(); len(v.Problems) != 0 || v.Entries != 3 {
		t.Fatalf("before tampering: got %+v", v)
	}
	audit := d.Store.DB.Collection(mongodb.AuditCollection)
	// Rewrite what version 2 says the old title was.
	filter := bson.M{"t": fieldsync.DemoTenant, "r": id, "v": 2}
	var doc bson.M
	if err := audit.FindOne(ctx, filter).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	ch := doc["ch"].(string)
	if _, err := audit.UpdateOne(ctx, filter, bson.M{"$set": bson.M{"ch": strings.Replace(ch, "Sink leaking again", "Nothing happened", 1)}}); err != nil {
		t.Fatal(err)
	}
	v := verify()
	if len(v.Problems) == 0 || v.Problems[0].Version != 2 || v.Problems[0].RecordID != id {
		t.Fatalf("an edited entry: got %+v, want a broken link at version 2", v)
	}
	// With its hash replaced too, the link from version 3 no longer matches.
	if _, err := audit.UpdateOne(ctx, filter, bson.M{"$set": bson.M{"ch": ch, "h": strings.Repeat("0", 64)}}); err != nil {
		t.Fatal(err)
	}
	if v := verify(); len(v.Problems) == 0 {
		t.Fatalf("an entry with a replaced hash: got %+v, want a broken link", v)
	}
	// The reader shows only what links up to the record: not the forged entry.
	super := mustLoginSession(t, srv, "super.a1", "")
	if es := mustAudit(t, srv, super, wo, id); len(es) != 1 || es[0].Version != 3 {
		t.Fatalf("a broken chain read: got %+v, want only version 3", es)
	}
	// Put it back and remove version 1.
	if _, err := audit.UpdateOne(ctx, filter, bson.M{"$set": bson.M{"h": doc["h"]}}); err != nil {
		t.Fatal(err)
	}
	if v := verify(); len(v.Problems) != 0 {
		t.Fatalf("restored: got %+v", v)
	}
	if _, err := audit.DeleteOne(ctx, bson.M{"t": fieldsync.DemoTenant, "r": id, "v": 1}); err != nil {
		t.Fatal(err)
	}
	if v := verify(); len(v.Problems) != 1 || v.Problems[0].Version != 1 {
		t.Fatalf("a removed entry: got %+v, want a broken link at version 1", v)
	}
}

// TestAuditSurvivesACrashBetweenEntryAndRecord: a push that dies after its
// audit entries are written and before its records is retried; the entry of
// the version that never committed is not history and not tampering.
func TestAuditSurvivesACrashBetweenEntryAndRecord(t *testing.T) {
	var armed atomic.Bool
	srv := newFullServerWith(t, func(c *fullConfig) {
		c.Sync.Fault = func(p string) {
			if p == fsync.FaultInserted && armed.Load() {
				panic("simulated crash")
			}
		}
	})
	cs := mustLoginSession(t, srv, "cs.a1", "")
	id, r := wfOrder(t, srv, cs, nil)
	m := update(wo, id, r.Version, map[string]any{"title": "Burst pipe"})
	m["mutation_id"] = uuid.NewString()
	body, _ := json.Marshal(map[string]any{"device_id": cs.DeviceID, "mutations": []any{m}})
	armed.Store(true)
	mustDo(t, srv, "POST", "/v1/sync/push", string(body), cs.Headers(), 500, nil)
	armed.Store(false)
	d := depsOf(t, srv)
	ctx := context.Background()
	n, err := d.Store.DB.Collection(mongodb.AuditCollection).CountDocuments(ctx, bson.M{"r": id})
	if err != nil || n != 2 {
		t.Fatalf("after the crash: %d entries (%v), want 2 (the update's written first)", n, err)
	}
	// Another change takes version 2 first; then the phone retries.
	r = wfOne(t, srv, cs, fieldsync.StatusApplied, update(wo, id, r.Version, map[string]any{"notes": "water off"}))
	wfOne(t, srv, cs, fieldsync.StatusApplied, m)
	super := mustLoginSession(t, srv, "super.a1", "")
	es := mustAudit(t, srv, super, wo, id)
	checkChain(t, es, 3)
	if c := changeOf(es[0], "title"); c == nil || string(c.New) != `"Burst pipe"` || es[0].MutationID != m["mutation_id"] {
		t.Fatalf("the retried update's entry: got %+v", es[0])
	}
	v, err := d.Engine.VerifyAudit(ctx, fieldsync.DemoTenant, wo, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Problems) != 0 || v.Uncommitted != 1 || v.Entries != 4 {
		t.Fatalf("verify: got %+v, want no problem and 1 uncommitted entry", v)
	}
}
