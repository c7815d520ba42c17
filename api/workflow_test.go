package api_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/api"

	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"
)

// Tests of issue "Field workflow the company can trust": who may change
// which field, dispatch to the right person, escalation to a person. Every
// finding of the issue is one test here, made through /v1/sync/push as the
// demo tenant's users, as it was found.

// wfResult is one push result with its record.
type wfResult struct {
	MutationID string `json:"mutation_id"`
	Status     string
	ID         string
	Version    int64
	Doc        map[string]any
	Error      *struct{ Code, Field, Detail string }
}

// wfPush pushes mutations (JSON objects; mutation_id filled in when absent)
// as s and returns the results.
func wfPush(tb testing.TB, srv *api.Server, s session, muts ...map[string]any) []wfResult {
	tb.Helper()
	for _, m := range muts {
		if m["mutation_id"] == nil {
			m["mutation_id"] = uuid.NewString()
		}
	}
	body, _ := json.Marshal(map[string]any{"device_id": s.DeviceID, "mutations": muts})
	var res struct{ Results []wfResult }
	mustDo(tb, srv, "POST", "/v1/sync/push", string(body), s.Headers(), 200, &res)
	if len(res.Results) != len(muts) {
		tb.Fatalf("got %d results for %d mutations", len(res.Results), len(muts))
	}
	return res.Results
}

// wfOne pushes one mutation and fails unless its status is want.
func wfOne(tb testing.TB, srv *api.Server, s session, want string, m map[string]any) wfResult {
	tb.Helper()
	r := wfPush(tb, srv, s, m)[0]
	if r.Status != want {
		tb.Fatalf("%v %v %v: got %s %+v, want %s", m["op"], m["collection"], m["action"], r.Status, r.Error, want)
	}
	return r
}

// wfRejected pushes one mutation and fails unless it is rejected with code naming field ("" = any).
func wfRejected(tb testing.TB, srv *api.Server, s session, code, field string, m map[string]any) wfResult {
	tb.Helper()
	r := wfPush(tb, srv, s, m)[0]
	if r.Status != fieldsync.StatusRejected || r.Error == nil || r.Error.Code != code || field != "" && r.Error.Field != field {
		tb.Fatalf("%v %v %v: got %s %+v, want rejected %s naming %q", m["op"], m["collection"], m["action"], r.Status, r.Error, code, field)
	}
	return r
}

func create(coll, id string, fields map[string]any) map[string]any {
	return map[string]any{"collection": coll, "op": "create", "id": id, "fields": fields}
}

func update(coll, id string, base int64, fields map[string]any) map[string]any {
	return map[string]any{"collection": coll, "op": "update", "id": id, "base_version": base, "fields": fields}
}

func action(coll, id string, base int64, name string, args map[string]any) map[string]any {
	m := map[string]any{"collection": coll, "op": "action", "id": id, "base_version": base, "action": name}
	if args != nil {
		m["args"] = args
	}
	return m
}

func del(coll, id string, base int64) map[string]any {
	return map[string]any{"collection": coll, "op": "delete", "id": id, "base_version": base}
}

const (
	wo = fieldsync.CollWorkOrders
	cp = fieldsync.CollComplaints
	in = fieldsync.CollInspections
)

// wfOrder creates a work order at site A as the desk session s and returns
// its id and the create result.
func wfOrder(tb testing.TB, srv *api.Server, s session, extra map[string]any) (string, wfResult) {
	tb.Helper()
	id := uuid.NewString()
	f := map[string]any{"site_id": fieldsync.DemoSiteA, "title": "Kitchen sink leaking", "priority": "urgent",
		"department": "engineering", "owner_name": "Li Wei", "owner_phone": "13900000003"}
	for k, v := range extra {
		f[k] = v
	}
	return id, wfOne(tb, srv, s, fieldsync.StatusApplied, create(wo, id, f))
}

// TestFieldsCannotUndoTheDesk: the findings of the issue, each applied on
// the main of that day: a technician lowers the priority of their order and
// deletes it, a guard rewrites a closed complaint, the desk deletes a
// complaint, a technician writes back an owner's masked phone.
func TestFieldsCannotUndoTheDesk(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	users := mustSeedUsers(t, srv)
	cs, tech, guard := mustLoginSession(t, srv, "cs.a1", ""), mustLoginSession(t, srv, "tech.a1", ""), mustLoginSession(t, srv, "guard.a1", "")

	id, r := wfOrder(t, srv, cs, nil)
	r = wfOne(t, srv, cs, fieldsync.StatusApplied, action(wo, id, r.Version, "assign", map[string]any{"assignee_id": users["tech.a1"].ID}))
	resolveBy := r.Doc["resolve_by"]
	if resolveBy == nil || r.Doc["status"] != fieldsync.WOAssigned {
		t.Fatalf("the assign result carries no record as stored: %v", r.Doc)
	}
	// The technician lowers the priority: refused, naming the field; the deadline stays.
	got := wfRejected(t, srv, tech, fieldsync.EForbidden, "fields.priority", update(wo, id, r.Version, map[string]any{"priority": "low"}))
	if got.Doc["resolve_by"] != resolveBy || got.Doc["priority"] != "urgent" {
		t.Fatalf("after a refused priority change: %v", got.Doc)
	}
	// A batch with a refused field goes on: the technician's parts are applied.
	res := wfPush(t, srv, tech, update(wo, id, r.Version, map[string]any{"priority": "low", "parts": []string{"valve"}}),
		update(wo, id, r.Version, map[string]any{"parts": []string{"valve"}}))
	if res[0].Status != fieldsync.StatusRejected || res[1].Status != fieldsync.StatusApplied {
		t.Fatalf("mixed batch: %+v", res)
	}
	// The masked owner's phone written back by the technician's app.
	if masked := res[1].Doc["owner_phone"]; masked != "*******0003" {
		t.Fatalf("the technician sees owner_phone %v", masked)
	}
	wfRejected(t, srv, tech, fieldsync.EForbidden, "fields.owner_phone", update(wo, id, res[1].Version, map[string]any{"owner_phone": "*******0003"}))
	// The technician deletes their order.
	wfRejected(t, srv, tech, fieldsync.EForbidden, "", del(wo, id, res[1].Version))
	d := wfOne(t, srv, cs, fieldsync.StatusApplied, update(wo, id, res[1].Version, map[string]any{"notes": "call before coming"})).Doc
	if d["owner_phone"] != "13900000003" || d["priority"] != "urgent" {
		t.Fatalf("the desk's view after the field's attempts: %v", d)
	}

	// A guard's complaint, closed by the desk: the guard may no longer rewrite it.
	cid := uuid.NewString()
	c := wfOne(t, srv, guard, fieldsync.StatusApplied, create(cp, cid, map[string]any{"site_id": fieldsync.DemoSiteA, "channel": "on_site",
		"content": "电梯按钮失灵", "owner_phone": "13911112222"}))
	c = wfOne(t, srv, guard, fieldsync.StatusApplied, update(cp, cid, c.Version, map[string]any{"content": "电梯按钮失灵，三号楼"}))
	c = wfOne(t, srv, cs, fieldsync.StatusApplied, action(cp, cid, c.Version, "invalidate", map[string]any{"reason": "not ours"}))
	wfRejected(t, srv, guard, fieldsync.EForbidden, "fields.content", update(cp, cid, c.Version, map[string]any{"content": "rewritten"}))
	wfRejected(t, srv, cs, fieldsync.EForbidden, "fields.content", update(cp, cid, c.Version, map[string]any{"content": "rewritten"}))
	// The desk never deletes a complaint.
	wfRejected(t, srv, cs, fieldsync.EForbidden, "", del(cp, cid, c.Version))
	// A closed complaint changes only through a supervisor's reopen.
	wfRejected(t, srv, cs, fieldsync.EForbidden, "", action(cp, cid, c.Version, "reopen", map[string]any{"reason": "owner called again"}))
	sup := mustLoginSession(t, srv, "super.a1", "")
	c = wfOne(t, srv, sup, fieldsync.StatusApplied, action(cp, cid, c.Version, "reopen", map[string]any{"reason": "owner called again"}))
	if c.Doc["stage"] != fieldsync.StageResolving || c.Doc["closed_at"] != nil {
		t.Fatalf("reopened complaint: %v", c.Doc)
	}
}

// TestDispatchToTheRightPerson: an order goes only to an active technician of
// its site and department; the desk finds them in the staff directory, and
// the order and its timeline carry their names.
func TestDispatchToTheRightPerson(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	users := mustSeedUsers(t, srv)
	cs := mustLoginSession(t, srv, "cs.a1", "")
	id, r := wfOrder(t, srv, cs, nil)
	for _, who := range []string{"guard.a1", "tech.a2" /* environment */, "tech.b1" /* site B */, "cs.a1"} {
		wfRejected(t, srv, cs, fieldsync.EInvalid, "args.assignee_id", action(wo, id, r.Version, "assign", map[string]any{"assignee_id": users[who].ID}))
	}
	r = wfOne(t, srv, cs, fieldsync.StatusApplied, action(wo, id, r.Version, "assign", map[string]any{"assignee_id": users["tech.a1"].ID}))
	if r.Doc["assignee_name"] != "Technician A1" {
		t.Fatalf("assignee_name %v", r.Doc["assignee_name"])
	}
	tl := r.Doc["timeline"].([]any)
	last := tl[len(tl)-1].(map[string]any)
	if last["by_name"] != "Customer Service A1" || !strings.Contains(fmt.Sprint(last["note"]), "Technician A1") {
		t.Fatalf("timeline entry %v", last)
	}
	if r.Doc["created_by_name"] != "Customer Service A1" {
		t.Fatalf("created_by_name %v", r.Doc["created_by_name"])
	}
	// An environment order goes to the environment technician.
	eid, er := wfOrder(t, srv, cs, map[string]any{"department": "environment"})
	wfRejected(t, srv, cs, fieldsync.EInvalid, "args.assignee_id", action(wo, eid, er.Version, "assign", map[string]any{"assignee_id": users["tech.a1"].ID}))
	wfOne(t, srv, cs, fieldsync.StatusApplied, action(wo, eid, er.Version, "assign", map[string]any{"assignee_id": users["tech.a2"].ID}))

	// The staff directory: the desk of site A sees site A's active staff, by name, only site A of each.
	var dir struct {
		Staff []struct {
			ID, Name, Role, Department string
			SiteIDs                    []string `json:"site_ids"`
		}
	}
	mustDo(t, srv, "GET", "/v1/staff", "", cs.Headers(), 200, &dir)
	var names []string
	for _, m := range dir.Staff {
		names = append(names, m.Name)
		if !slices.Equal(m.SiteIDs, []string{fieldsync.DemoSiteA}) {
			t.Errorf("%s shown with sites %v", m.Name, m.SiteIDs)
		}
		if m.Name == "Technician A2" && m.Department != fieldsync.DeptEnvironment {
			t.Errorf("tech.a2 department %q", m.Department)
		}
	}
	want := []string{"Customer Service A1", "Guard A1", "Guard A2", "Manager A1", "Supervisor A1", "Technician A1", "Technician A2"}
	if !slices.Equal(names, want) {
		t.Fatalf("directory %v, want %v", names, want)
	}
	mustDo(t, srv, "GET", "/v1/staff?site_id="+fieldsync.DemoSiteB, "", cs.Headers(), 403, nil)
	for _, who := range []string{"guard.a1", "tech.a1"} {
		mustDo(t, srv, "GET", "/v1/staff", "", mustLoginSession(t, srv, who, "").Headers(), 403, nil)
	}
	// A deactivated technician leaves the directory and gets no order.
	admin := mustLoginSession(t, srv, "admin", "")
	mustDo(t, srv, "PATCH", "/v1/admin/users/"+users["tech.a1"].ID, `{"active":false}`, admin.Headers(), 200, nil)
	id2, r2 := wfOrder(t, srv, cs, nil)
	wfRejected(t, srv, cs, fieldsync.EInvalid, "args.assignee_id", action(wo, id2, r2.Version, "assign", map[string]any{"assignee_id": users["tech.a1"].ID}))
}

// TestEscalationReachesAPerson: level 1 reaches a supervisor of the site,
// level 2 (a supervisor's call) a manager, each with a new reply deadline;
// the escalated person pulls it; an escalation voids the follow-up call, so
// closing needs a new one.
func TestEscalationReachesAPerson(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	users := mustSeedUsers(t, srv)
	cs, sup, mgr := mustLoginSession(t, srv, "cs.a1", ""), mustLoginSession(t, srv, "super.a1", ""), mustLoginSession(t, srv, "manager.a1", "")
	cid := uuid.NewString()
	c := wfOne(t, srv, cs, fieldsync.StatusApplied, create(cp, cid, map[string]any{"site_id": fieldsync.DemoSiteA, "channel": "phone", "content": "楼上漏水"}))
	for _, a := range []string{"clarify", "start_resolving", "resolve"} {
		c = wfOne(t, srv, cs, fieldsync.StatusApplied, action(cp, cid, c.Version, a, nil))
	}
	c = wfOne(t, srv, cs, fieldsync.StatusApplied, action(cp, cid, c.Version, "record_follow_up", map[string]any{"method": "phone", "satisfaction": 2}))
	c = wfOne(t, srv, cs, fieldsync.StatusApplied, action(cp, cid, c.Version, "escalate", map[string]any{"reason": "owner not satisfied"}))
	if c.Doc["escalated_to_id"] != users["super.a1"].ID || c.Doc["escalated_to_name"] != "Supervisor A1" || c.Doc["escalation_level"] != float64(1) {
		t.Fatalf("level 1 reached %v %v", c.Doc["escalated_to_id"], c.Doc["escalated_to_name"])
	}
	if c.Doc["followed_up_at"] != nil || c.Doc["satisfaction"] != nil {
		t.Fatalf("the follow-up survived the escalation: %v %v", c.Doc["followed_up_at"], c.Doc["satisfaction"])
	}
	replyBy1 := c.Doc["reply_by"]
	c = wfOne(t, srv, cs, fieldsync.StatusApplied, action(cp, cid, c.Version, "resolve", nil))
	// The stale follow-up is gone: closing needs a new call.
	wfRejected(t, srv, cs, fieldsync.EInvalidTransit, "", action(cp, cid, c.Version, "close", map[string]any{"result_summary": "done"}))
	// Level 2 is a supervisor's call, and reaches a manager.
	wfRejected(t, srv, cs, fieldsync.EForbidden, "", action(cp, cid, c.Version, "escalate", map[string]any{"reason": "again"}))
	wfRejected(t, srv, sup, fieldsync.EInvalid, "args.to_user_id", action(cp, cid, c.Version, "escalate",
		map[string]any{"reason": "again", "to_user_id": users["cs.a1"].ID}))
	c = wfOne(t, srv, sup, fieldsync.StatusApplied, action(cp, cid, c.Version, "escalate", map[string]any{"reason": "again"}))
	if c.Doc["escalated_to_id"] != users["manager.a1"].ID || c.Doc["escalation_level"] != float64(2) || c.Doc["reply_by"] == replyBy1 {
		t.Fatalf("level 2: %v level %v reply_by %v", c.Doc["escalated_to_id"], c.Doc["escalation_level"], c.Doc["reply_by"])
	}
	// The manager finds it in their next pull, naming them, and may act on it.
	var page pullPage
	mustDo(t, srv, "GET", "/v1/sync/pull", "", mgr.Headers(), 200, &page)
	found := false
	for _, ch := range page.Changes {
		if ch.ID == cid {
			found = ch.Doc["escalated_to_id"] == users["manager.a1"].ID
		}
	}
	if !found {
		t.Fatal("the manager's pull has no complaint escalated to them")
	}
	c = wfOne(t, srv, mgr, fieldsync.StatusApplied, action(cp, cid, c.Version, "resolve", nil))
	c = wfOne(t, srv, mgr, fieldsync.StatusApplied, action(cp, cid, c.Version, "record_follow_up", map[string]any{"method": "visit", "satisfaction": 5}))
	c = wfOne(t, srv, mgr, fieldsync.StatusApplied, action(cp, cid, c.Version, "close", map[string]any{"result_summary": "pipe replaced"}))
	if c.Doc["satisfaction"] != float64(5) || c.Doc["stage"] != fieldsync.StageClosed {
		t.Fatalf("closed with %v", c.Doc)
	}
}

// TestEvidenceFollowsTheWork: the technician of an order raised from a
// complaint reads the complaint and its photos; any staff member reports an
// issue; the reporter of an inspection sees how its order is going.
func TestEvidenceFollowsTheWork(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	users := mustSeedUsers(t, srv)
	cs, tech, guard := mustLoginSession(t, srv, "cs.a1", ""), mustLoginSession(t, srv, "tech.a1", ""), mustLoginSession(t, srv, "guard.a1", "")
	photo := wfStorePhoto(t, srv, guard)
	cid := uuid.NewString()
	c := wfOne(t, srv, guard, fieldsync.StatusApplied, create(cp, cid, map[string]any{"site_id": fieldsync.DemoSiteA, "channel": "on_site",
		"content": "墙面渗水", "photo_ids": []string{photo}}))
	mustDo(t, srv, "GET", "/v1/media/"+photo, "", tech.Headers(), 404, nil)
	c = wfOne(t, srv, cs, fieldsync.StatusApplied, action(cp, cid, c.Version, "clarify", nil))
	oid := uuid.NewString()
	wfOne(t, srv, cs, fieldsync.StatusApplied, action(cp, cid, c.Version, "create_work_order",
		map[string]any{"work_order_id": oid, "title": "Fix the wall", "assignee_id": users["tech.a1"].ID}))
	mustDo(t, srv, "GET", "/v1/media/"+photo, "", tech.Headers(), 200, nil)
	var page pullPage
	mustDo(t, srv, "GET", "/v1/sync/pull", "", tech.Headers(), 200, &page)
	seen := map[string]bool{}
	for _, ch := range page.Changes {
		seen[ch.Collection+"/"+ch.ID] = ch.Op == "upsert"
		if ch.ID == cid && ch.Doc["owner_phone"] != nil && !strings.Contains(fmt.Sprint(ch.Doc["owner_phone"]), "*") {
			t.Fatalf("the technician reads the owner's phone whole: %v", ch.Doc["owner_phone"])
		}
	}
	if !seen[cp+"/"+cid] || !seen[wo+"/"+oid] {
		t.Fatalf("the technician's pull lacks the order or its complaint: %v", seen)
	}

	// A technician reports an issue they find; the desk raises an order from a
	// guard's inspection, and the guard follows its status.
	wfOne(t, srv, tech, fieldsync.StatusApplied, create(in, uuid.NewString(), map[string]any{"site_id": fieldsync.DemoSiteA, "category": "facilities",
		"description": "配电箱门锁坏了"}))
	iid := uuid.NewString()
	i := wfOne(t, srv, guard, fieldsync.StatusApplied, create(in, iid, map[string]any{"site_id": fieldsync.DemoSiteA, "category": "facilities",
		"severity": "high", "description": "消防通道堵塞"}))
	oid2 := uuid.NewString()
	wfOne(t, srv, cs, fieldsync.StatusApplied, action(in, iid, i.Version, "raise_work_order",
		map[string]any{"work_order_id": oid2, "assignee_id": users["tech.a1"].ID}))
	r := wfOne(t, srv, tech, fieldsync.StatusApplied, action(wo, oid2, 0, "accept", nil))
	if r.Doc["status"] != fieldsync.WOAccepted {
		t.Fatalf("accept result %v", r.Doc["status"])
	}
	var gp pullPage
	mustDo(t, srv, "GET", "/v1/sync/pull", "", guard.Headers(), 200, &gp)
	for _, ch := range gp.Changes {
		if ch.ID == iid {
			prog, _ := ch.Doc["work_orders"].([]any)
			if len(prog) != 1 || prog[0].(map[string]any)["status"] != fieldsync.WOAccepted || prog[0].(map[string]any)["assignee_name"] != "Technician A1" {
				t.Fatalf("the reporter sees %v", prog)
			}
			return
		}
	}
	t.Fatal("the reporter's pull lacks their inspection")
}

// wfStorePhoto uploads a small JPEG as s and returns its id, stored.
func wfStorePhoto(tb testing.TB, srv *api.Server, s session) string {
	tb.Helper()
	photo := testJPEG(tb, 16, 16)
	id := uuid.NewString()
	var created mediaBody
	mustDo(tb, srv, "POST", "/v1/media", createJSON(id, "image/jpeg", photo), s.Headers(), 201, &created)
	if resp, b := sendTo(tb, "PUT", created.Upload.URL, photo, created.Upload.Headers); resp.StatusCode != 200 {
		tb.Fatalf("presigned PUT: %d %s", resp.StatusCode, b)
	}
	mustDo(tb, srv, "POST", "/v1/media/"+id+"/complete", "", s.Headers(), 200, nil)
	return id
}

// TestContractMarksBaseVersionRequired: update and delete need base_version,
// and openapi says so.
func TestContractMarksBaseVersionRequired(t *testing.T) {
	_, self, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "openapi", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				AllOf []struct {
					If struct {
						Properties struct {
							Op struct {
								Enum []string
							}
						}
					}
					Then struct{ Required []string }
				} `yaml:"allOf"`
			}
		}
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, c := range doc.Components.Schemas["Mutation"].AllOf {
		if slices.Contains(c.If.Properties.Op.Enum, "update") && slices.Contains(c.If.Properties.Op.Enum, "delete") &&
			slices.Contains(c.Then.Required, "base_version") {
			return
		}
	}
	t.Fatal("openapi's Mutation does not require base_version for update and delete")
}

// matrixRoles are the columns of the write matrix: role → demo user.
var matrixRoles = []struct{ role, user string }{
	{"guard", "guard.a1"}, {"technician", "tech.a1"}, {"cs_agent", "cs.a1"},
	{"supervisor", "super.a1"}, {"manager", "manager.a1"}, {"admin", "admin"},
}

// matrixEnv is what a matrix case's setup uses: a session per demo user.
type matrixEnv struct {
	srv   *api.Server
	users testUsers
	s     map[string]session
}

// record creates a record as who and returns its id and version.
func (e *matrixEnv) record(tb testing.TB, who, coll string, fields map[string]any) (string, int64) {
	tb.Helper()
	id := uuid.NewString()
	f := map[string]any{"site_id": fieldsync.DemoSiteA}
	for k, v := range fields {
		f[k] = v
	}
	return id, wfOne(tb, e.srv, e.s[who], fieldsync.StatusApplied, create(coll, id, f)).Version
}

// act takes actions on a record as who, one after the other, and returns its version.
func (e *matrixEnv) act(tb testing.TB, who, coll, id string, v int64, actions ...[2]any) int64 {
	tb.Helper()
	for _, a := range actions {
		args, _ := a[1].(map[string]any)
		v = wfOne(tb, e.srv, e.s[who], fieldsync.StatusApplied, action(coll, id, v, a[0].(string), args)).Version
	}
	return v
}

// order creates a work order at site A, moved by the desk and tech.a1 to state.
func (e *matrixEnv) order(tb testing.TB, state string) (string, int64) {
	tb.Helper()
	id, v := e.record(tb, "cs.a1", wo, map[string]any{"title": "Fix the door", "department": "engineering", "owner_phone": "13900000003"})
	steps := map[string][][2]any{
		fieldsync.WOAssigned:   {{"assign", map[string]any{"assignee_id": e.users["tech.a1"].ID}}},
		fieldsync.WOInProgress: {{"assign", map[string]any{"assignee_id": e.users["tech.a1"].ID}}, {"accept", nil}, {"start", nil}},
		fieldsync.WOCompleted: {{"assign", map[string]any{"assignee_id": e.users["tech.a1"].ID}}, {"accept", nil}, {"start", nil},
			{"complete", map[string]any{"resolution": "done"}}},
		fieldsync.WOVerified: {{"assign", map[string]any{"assignee_id": e.users["tech.a1"].ID}}, {"accept", nil}, {"start", nil},
			{"complete", map[string]any{"resolution": "done"}}, {"verify", map[string]any{"satisfaction": 5}}},
		fieldsync.WOCancelled: {{"cancel", map[string]any{"reason": "owner fixed it"}}},
	}
	for _, a := range steps[state] {
		who := "cs.a1"
		if a[0] == "accept" || a[0] == "start" || a[0] == "complete" {
			who = "tech.a1"
		}
		v = e.act(tb, who, wo, id, v, a)
	}
	return id, v
}

// complaint creates a guard's complaint at site A, moved by the desk to stage.
func (e *matrixEnv) complaint(tb testing.TB, stage string) (string, int64) {
	tb.Helper()
	id, v := e.record(tb, "guard.a1", cp, map[string]any{"channel": "on_site", "content": "噪音扰民", "owner_phone": "13911112222"})
	switch stage {
	case fieldsync.StageClarifying:
		v = e.act(tb, "cs.a1", cp, id, v, [2]any{"clarify", nil})
	case fieldsync.StageClosed:
		v = e.act(tb, "cs.a1", cp, id, v, [2]any{"invalidate", map[string]any{"reason": "not ours"}})
	}
	return id, v
}

// TestFieldWriteMatrix pins the write rules through the API: every
// collection × role × field class (the desk's, the assignee's, the
// reporter's, the server's) × state, and delete. A cell is A (applied), F
// (rejected forbidden, naming the field for an update of a readable record)
// or I (rejected invalid_input: a server field nobody sets).
func TestFieldWriteMatrix(t *testing.T) {
	t.Parallel()
	// Hundreds of pushes from a few devices: the per-device rate limit
	// (30/s, bursts of 60) is not what this test is about, and it made it flaky.
	srv := newFullServerWith(t, func(c *fullConfig) { c.API.DeviceLimit = api.RateLimit{Rate: 10000, Burst: 10000} })
	e := &matrixEnv{srv: srv, users: mustSeedUsers(t, srv), s: map[string]session{}}
	for _, r := range matrixRoles {
		e.s[r.user] = mustLoginSession(t, srv, r.user, "")
	}
	e.s["guard.a2"] = mustLoginSession(t, srv, "guard.a2", "")
	checkpoint := func(tb testing.TB) (string, int64) {
		return e.record(tb, "admin", fieldsync.CollCheckpoints, map[string]any{"name": "B2 car park", "code": "CP-" + uuid.NewString()[:8]})
	}
	round := func(ended bool) func(tb testing.TB) (string, int64) {
		return func(tb testing.TB) (string, int64) {
			id, v := e.record(tb, "guard.a1", fieldsync.CollPatrolRounds, map[string]any{"route_id": uuid.NewString(),
				"started_at": e.now()})
			if ended {
				v = e.act(tb, "guard.a1", fieldsync.CollPatrolRounds, id, v, [2]any{"end", nil})
			}
			return id, v
		}
	}
	inspection := func(by string, raised bool) func(tb testing.TB) (string, int64) {
		return func(tb testing.TB) (string, int64) {
			id, v := e.record(tb, by, in, map[string]any{"category": "facilities", "description": "路灯不亮"})
			if raised {
				v = e.act(tb, "cs.a1", in, id, v, [2]any{"raise_work_order", map[string]any{"work_order_id": uuid.NewString()}})
			}
			return id, v
		}
	}
	state := func(f func(testing.TB, string) (string, int64), s string) func(testing.TB) (string, int64) {
		return func(tb testing.TB) (string, int64) { return f(tb, s) }
	}
	photo := []string{uuid.NewString()}
	cases := []struct {
		coll, name string
		setup      func(testing.TB) (string, int64)
		fields     map[string]any // nil: delete
		want       string         // guard technician cs_agent supervisor manager admin
	}{
		{wo, "open: priority (desk)", state(e.order, fieldsync.WOOpen), map[string]any{"priority": "low"}, "FFAAAA"},
		{wo, "assigned: priority (desk)", state(e.order, fieldsync.WOAssigned), map[string]any{"priority": "low"}, "FFAAAA"},
		{wo, "assigned: department (desk)", state(e.order, fieldsync.WOAssigned), map[string]any{"department": "security"}, "FFAAAA"},
		{wo, "assigned: parts (assignee)", state(e.order, fieldsync.WOAssigned), map[string]any{"parts": []string{"hinge"}}, "FAFFFF"},
		{wo, "in progress: after photos (assignee)", state(e.order, fieldsync.WOInProgress), map[string]any{"after_photo_ids": photo}, "FAFFFF"},
		{wo, "in progress: notes (both)", state(e.order, fieldsync.WOInProgress), map[string]any{"notes": "门框变形"}, "FAAAAA"},
		{wo, "in progress: owner phone (masked to the assignee)", state(e.order, fieldsync.WOInProgress), map[string]any{"owner_phone": "*******0003"}, "FFAAAA"},
		{wo, "completed: parts (assignee, too late)", state(e.order, fieldsync.WOCompleted), map[string]any{"parts": []string{"x"}}, "FFFFFF"},
		{wo, "completed: priority (desk)", state(e.order, fieldsync.WOCompleted), map[string]any{"priority": "low"}, "FFAAAA"},
		{wo, "verified: priority (closed)", state(e.order, fieldsync.WOVerified), map[string]any{"priority": "low"}, "FFFFFF"},
		{wo, "cancelled: notes (closed)", state(e.order, fieldsync.WOCancelled), map[string]any{"notes": "x"}, "FFFFFF"},
		{wo, "assigned: respond_by (server)", state(e.order, fieldsync.WOAssigned), map[string]any{"respond_by": "2026-12-31T00:00:00Z"}, "IIIIII"},
		{wo, "assigned: status (server)", state(e.order, fieldsync.WOAssigned), map[string]any{"status": "verified"}, "IIIIII"},
		{wo, "assigned: delete (never)", state(e.order, fieldsync.WOAssigned), nil, "FFFFFF"},
		{cp, "received: content (reporter, desk)", state(e.complaint, fieldsync.StageReceived), map[string]any{"content": "楼上装修噪音"}, "AFAAAA"},
		{cp, "received: owner phone (desk only)", state(e.complaint, fieldsync.StageReceived), map[string]any{"owner_phone": "13800000000"}, "FFAAAA"},
		{cp, "clarifying: content (desk)", state(e.complaint, fieldsync.StageClarifying), map[string]any{"content": "x"}, "FFAAAA"},
		{cp, "clarifying: photos (reporter, desk)", state(e.complaint, fieldsync.StageClarifying), map[string]any{"photo_ids": photo}, "AFAAAA"},
		{cp, "closed: photos (closed)", state(e.complaint, fieldsync.StageClosed), map[string]any{"photo_ids": photo}, "FFFFFF"},
		{cp, "closed: content (closed)", state(e.complaint, fieldsync.StageClosed), map[string]any{"content": "x"}, "FFFFFF"},
		{cp, "received: stage (server)", state(e.complaint, fieldsync.StageReceived), map[string]any{"stage": "closed"}, "IIIIII"},
		{cp, "received: delete (never)", state(e.complaint, fieldsync.StageReceived), nil, "FFFFFF"},
		{in, "guard's: description (reporter, desk)", inspection("guard.a1", false), map[string]any{"description": "x"}, "AFAAAA"},
		{in, "guard's: checkpoint (reporter)", inspection("guard.a1", false), map[string]any{"checkpoint_id": uuid.NewString()}, "AFFFFF"},
		{in, "another guard's: description (desk)", inspection("guard.a2", false), map[string]any{"description": "x"}, "FFAAAA"},
		{in, "technician's: description (reporter, desk)", inspection("tech.a1", false), map[string]any{"description": "x"}, "FAAAAA"},
		{in, "guard's: assignee_ids (server)", inspection("guard.a1", false), map[string]any{"assignee_ids": []string{uuid.NewString()}}, "IIIIII"},
		{in, "guard's, not raised: delete (reporter, admin)", inspection("guard.a1", false), nil, "AFFFFA"},
		{in, "guard's, raised to an order: delete (admin)", inspection("guard.a1", true), nil, "FFFFFA"},
		{fieldsync.CollPatrolRounds, "running: notes (guard, admin)", round(false), map[string]any{"notes": "B2 门未锁"}, "AFFFFA"},
		{fieldsync.CollPatrolRounds, "ended: notes (admin)", round(true), map[string]any{"notes": "x"}, "FFFFFA"},
		{fieldsync.CollPatrolRounds, "running: missed (server)", round(false), map[string]any{"missed": []string{}}, "IIIIII"},
		{fieldsync.CollPatrolRounds, "running: delete (admin)", round(false), nil, "FFFFFA"},
		{fieldsync.CollCheckpoints, "name (admin)", checkpoint, map[string]any{"name": "B3"}, "FFFFFA"},
		{fieldsync.CollCheckpoints, "delete (admin)", checkpoint, nil, "FFFFFA"},
	}
	for _, c := range cases {
		got := make([]byte, len(matrixRoles))
		for i, r := range matrixRoles {
			id, v := c.setup(t)
			m := del(c.coll, id, v)
			if c.fields != nil {
				m = update(c.coll, id, v, c.fields)
			}
			res := wfPush(t, srv, e.s[r.user], m)[0]
			switch {
			case res.Status == fieldsync.StatusApplied:
				got[i] = 'A'
			case res.Status == fieldsync.StatusRejected && res.Error.Code == fieldsync.EForbidden:
				got[i] = 'F'
				if c.fields != nil && res.Doc != nil && !strings.HasPrefix(res.Error.Field, "fields.") {
					t.Errorf("%s %s as %s: forbidden names %q, want the field", c.coll, c.name, r.role, res.Error.Field)
				}
			case res.Status == fieldsync.StatusRejected && res.Error.Code == fieldsync.EInvalid:
				got[i] = 'I'
			default:
				got[i] = '?'
				t.Errorf("%s %s as %s: %s %+v", c.coll, c.name, r.role, res.Status, res.Error)
			}
		}
		if string(got) != c.want {
			t.Errorf("%s %s: got %s, want %s (guard technician cs_agent supervisor manager admin)", c.coll, c.name, got, c.want)
		}
	}
}

// now is the time as a phone writes it (the engine of these tests runs on the wall clock).
func (e *matrixEnv) now() string { return time.Now().UTC().Format(time.RFC3339) }
