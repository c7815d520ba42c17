package sync_test

import (
	"strings"
	"testing"

	"fieldsync"
	fsync "fieldsync/sync"
)

func TestPushCreateThenPull(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{})
	a, b := newID(), newID()
	res := h.push(guard1, createInspection(a, "s1", "photo_ids", []string{newID()}, "gps", map[string]any{"lat": 1.5, "lng": 2}),
		createInspection(b, "s1"))
	wantStatus(t, res, "applied", "applied")
	if res[0].Version != 1 || res[0].ID != a {
		t.Fatalf("got %+v, want version 1 of %s", res[0], a)
	}
	r := newReplica(guard2)
	r.sync(t, h.e, 0)
	if len(r.docs) != 2 {
		t.Fatalf("guard2 got %v, want both inspections", r.versions())
	}
	doc := r.docs["inspections/"+a].Doc
	if doc["created_by"] != guard1.UserID || doc["site_id"] != "s1" || doc["category"] != "sanitation" {
		t.Fatalf("got doc %v", doc)
	}
	if none := newReplica(super2); true {
		none.sync(t, h.e, 0)
		if len(none.docs) != 0 {
			t.Fatalf("supervisor of s2 got %v, want nothing of s1", none.versions())
		}
	}
	if foreign := newReplica(other); true {
		foreign.sync(t, h.e, 0)
		if len(foreign.docs) != 0 {
			t.Fatalf("other tenant's admin got %v", foreign.versions())
		}
	}
}

func TestPushRejectsInvalidMutationsOneByOne(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{})
	id := newID()
	long := strings.Repeat("x", 4001)
	cases := []struct {
		m     fieldsync.Mutation
		code  string
		field string
	}{
		{fieldsync.Mutation{MutationID: newID(), Collection: "nope", Op: "create", ID: newID()}, "invalid_input", "collection"},
		{fieldsync.Mutation{MutationID: newID(), Collection: "inspections", Op: "upsert", ID: newID()}, "invalid_input", "op"},
		{fieldsync.Mutation{MutationID: "", Collection: "inspections", Op: "create", ID: newID()}, "invalid_input", "mutation_id"},
		{fieldsync.Mutation{MutationID: newID(), Collection: "inspections", Op: "create", ID: "not-a-uuid"}, "invalid_input", "id"},
		{createInspection(newID(), "s1", "bogus", 1), "invalid_input", "fields.bogus"},
		{createInspection(newID(), "s1", "$where", 1), "invalid_input", "fields.$where"},
		{createInspection(newID(), "s1", "a.b", 1), "invalid_input", "fields.a.b"},
		{createInspection(newID(), "s1", "description", long), "invalid_input", "fields.description"},
		{createInspection(newID(), "s1", "description", 5), "invalid_input", "fields.description"},
		{createInspection(newID(), "s1", "severity", "apocalyptic"), "invalid_input", "fields.severity"},
		{createInspection(newID(), "s1", "observed_at", "yesterday"), "invalid_input", "fields.observed_at"},
		{createInspection(newID(), "s1", "gps", map[string]any{"lat": 91, "lng": 0}), "invalid_input", "fields.gps.lat"},
		{createInspection(newID(), "s1", "photo_ids", []string{"x"}), "invalid_input", "fields.photo_ids[0]"},
		{createInspection(newID(), "s1", "assignee_ids", []string{newID()}), "invalid_input", "fields.assignee_ids"},
		{fieldsync.Mutation{MutationID: newID(), Collection: "inspections", Op: "create", ID: newID(), Fields: fields("site_id", "s1")}, "invalid_input", "fields.category"},
		{createInspection(newID(), "s2"), "forbidden", "fields.site_id"},
		{update("inspections", newID(), 0, "description", "x"), "invalid_input", "base_version"},
		{update("inspections", newID(), 1, "description", "x"), "not_found", ""},
		{createOrder(newID(), "s1", "count", 101), "invalid_input", "fields.count"},
		{createOrder(newID(), "s1", "count", 1.5), "invalid_input", "fields.count"},
		{createOrder(newID(), "s1", "parts", []string{strings.Repeat("p", 41)}), "invalid_input", "fields.parts[0]"},
		{action("work_orders", newID(), 1, "fly"), "invalid_input", "action"},
	}
	var ms []fieldsync.Mutation
	for _, c := range cases {
		ms = append(ms, c.m)
	}
	ms = append(ms, createInspection(id, "s1"))
	res := h.push(agent1, ms...)
	for i, c := range cases {
		r := res[i]
		if r.Status != "rejected" || r.Error == nil || r.Error.Code != c.code || r.Error.Field != c.field {
			t.Errorf("case %d: got %s %+v, want rejected %s naming %q", i, r.Status, r.Error, c.code, c.field)
		}
	}
	if last := res[len(res)-1]; last.Status != "applied" {
		t.Fatalf("the good mutation after the bad ones: got %+v, want applied", last)
	}
}

func TestPushEnvelope(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{})
	_, err := h.e.Push(as(guard1), fieldsync.PushRequest{DeviceID: "d-stolen", Mutations: nil})
	if fieldsync.ErrorCode(err) != fieldsync.EForbidden {
		t.Fatalf("foreign device_id: got %v, want forbidden", err)
	}
	_, err = h.e.Push(as(guard1), fieldsync.PushRequest{DeviceID: guard1.DeviceID, SchemaVersion: 99})
	if fieldsync.ErrorCode(err) != fieldsync.EUpgradeRequired {
		t.Fatalf("schema 99: got %v, want upgrade_required", err)
	}
	_, err = h.e.Pull(as(guard1), fieldsync.PullRequest{SchemaVersion: 99})
	if fieldsync.ErrorCode(err) != fieldsync.EUpgradeRequired {
		t.Fatalf("pull schema 99: got %v, want upgrade_required", err)
	}
	_, err = h.e.Push(as(guard1), fieldsync.PushRequest{DeviceID: guard1.DeviceID, Mutations: make([]fieldsync.Mutation, 501)})
	if fieldsync.ErrorCode(err) != fieldsync.EPayloadTooLarge {
		t.Fatalf("501 mutations: got %v, want payload_too_large", err)
	}
	_, err = h.e.Push(as(nil), fieldsync.PushRequest{})
	if fieldsync.ErrorCode(err) != fieldsync.EUnauthorized {
		t.Fatalf("no caller: got %v, want unauthorized", err)
	}
}

func TestPushRetryIsDuplicate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{})
	id := newID()
	first := h.push(agent1, createOrder(id, "s1"))
	batch := []fieldsync.Mutation{createInspection(newID(), "s1"), update("work_orders", id, 1, "title", "pipe"),
		action("work_orders", id, 2, "assign", "assignee_id", tech1.UserID)}
	wantStatus(t, first, "applied")
	a := h.push(agent1, batch...)
	wantStatus(t, a, "applied", "applied", "applied")
	b := h.push(agent1, batch...) // the response was lost; the phone retries
	wantStatus(t, b, "duplicate", "duplicate", "duplicate")
	for i := range a {
		if a[i].Version != b[i].Version || a[i].ID != b[i].ID {
			t.Fatalf("retry %d: got %+v, want the original %+v", i, b[i], a[i])
		}
	}
	r := newReplica(agent1)
	r.sync(t, h.e, 0)
	if got := r.docs["work_orders/"+id].Version; got != 3 || len(r.docs) != 2 {
		t.Fatalf("got %v, want the order at version 3 and one inspection", r.versions())
	}
}

func TestPushCrashMidBatchThenRetry(t *testing.T) {
	t.Parallel()
	for _, point := range []string{fsync.FaultInserted, fsync.FaultWritten} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			crash := false
			h := newHarness(t, fsync.Options{Fault: func(p string) {
				if crash && p == point {
					panic("crash at " + p)
				}
			}})
			id := newID()
			wantStatus(t, h.push(agent1, createOrder(id, "s1")), "applied")
			// A device already in the change log: it gets the crashed push's
			// records from the log, which the dead writer never completed.
			follower := newReplica(agent1)
			follower.sync(t, h.e, 0)
			crash = true
			batch := []fieldsync.Mutation{createInspection(newID(), "s1"), createOrder(newID(), "s1"),
				update("work_orders", id, 1, "title", "crashed"), update("work_orders", id, 1, "tags", []string{"a"})}
			func() {
				defer func() {
					if recover() == nil {
						t.Fatal("no crash")
					}
				}()
				h.push(agent1, batch...)
			}()
			crash = false
			res := h.push(agent1, batch...)
			if point == fsync.FaultWritten {
				wantStatus(t, res, "duplicate", "duplicate", "duplicate", "duplicate")
			} else {
				wantStatus(t, res, "duplicate", "duplicate", "applied", "applied")
			}
			wantStatus(t, h.push(agent1, batch...), "duplicate", "duplicate", "duplicate", "duplicate")
			// The crashed push's reservation holds pullers back until it expires.
			h.now.Add(fsync.DefaultTTL + 1)
			r := newReplica(agent1)
			r.sync(t, h.e, 2)
			if len(r.docs) != 3 || r.docs["work_orders/"+id].Version != 3 {
				t.Fatalf("got %v, want 3 records and the order at version 3 (two updates, once each)", r.versions())
			}
			if d := r.docs["work_orders/"+id].Doc; d["title"] != "crashed" {
				t.Fatalf("got %v", d)
			}
			follower.sync(t, h.e, 2)
			if strings.Join(follower.versions(), ",") != strings.Join(r.versions(), ",") {
				t.Fatalf("incremental pull %v differs from a bootstrap %v", follower.versions(), r.versions())
			}
		})
	}
}

func TestMergeStaleUpdates(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{})
	id := newID()
	wantStatus(t, h.push(agent1, createOrder(id, "s1", "priority", "low", "tags", []string{"a"})), "applied")
	// Two desks edit version 1 offline.
	wantStatus(t, h.push(admin, update("work_orders", id, 1, "title", "admin title", "tags", []string{"b"})), "applied")
	res := h.push(agent1, update("work_orders", id, 1, "priority", "urgent", "tags", []string{"c"}))
	wantStatus(t, res, "applied") // priority untouched by admin: merges
	if res[0].Version != 3 {
		t.Fatalf("got version %d, want 3", res[0].Version)
	}
	res = h.push(agent1, update("work_orders", id, 1, "title", "agent title", "count", 7, "tags", []string{"d"}))
	wantStatus(t, res, "conflict") // title changed by admin since v1: server keeps it; count applies
	d := res[0].Doc
	if d["title"] != "admin title" || d["priority"] != "urgent" || d["count"] != int64(7) {
		t.Fatalf("conflict doc %v: want admin's title, merged priority and count", d)
	}
	tags := d["tags"].([]any)
	for _, want := range []string{"a", "b", "c", "d"} {
		found := false
		for _, x := range tags {
			found = found || x == want
		}
		if !found {
			t.Fatalf("tags %v lost %s", tags, want)
		}
	}
	// Only conflicting fields: nothing applied, no new version.
	res = h.push(agent1, update("work_orders", id, 1, "title", "again"))
	wantStatus(t, res, "conflict")
	if res[0].Version != 4 {
		t.Fatalf("got version %d, want 4 (unchanged)", res[0].Version)
	}
	// The same device's own earlier change is not a conflict.
	res = h.push(agent1, update("work_orders", id, 3, "priority", "normal"), update("work_orders", id, 3, "priority", "low"))
	wantStatus(t, res, "applied", "applied")
}

func TestGoneAndDeleted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{})
	id := newID()
	wantStatus(t, h.push(agent1, createOrder(id, "s1")), "applied")
	res := h.push(agent1, del("work_orders", id, 1), update("work_orders", id, 2, "title", "x"),
		action("work_orders", id, 2, "cancel", "reason", "r"), createOrder(id, "s1"), del("work_orders", id, 2))
	wantStatus(t, res, "applied", "rejected", "rejected", "rejected", "rejected")
	for _, r := range res[1:] {
		if r.Error.Code != fieldsync.EGone {
			t.Fatalf("got %+v, want gone", r)
		}
	}
	r := newReplica(agent1)
	r.sync(t, h.e, 0)
	if len(r.docs) != 0 {
		t.Fatalf("bootstrap got %v, want no deleted record", r.versions())
	}
}

func TestActions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{})
	id := newID()
	wantStatus(t, h.push(agent1, createOrder(id, "s1", "owner_phone", "13812345678")), "applied")
	// A technician cannot see or assign it yet.
	res := h.push(tech1, action("work_orders", id, 1, "accept"))
	wantStatus(t, res, "rejected")
	if res[0].Error.Code != fieldsync.EForbidden || res[0].Doc != nil {
		t.Fatalf("got %+v, want forbidden without doc", res[0])
	}
	wantStatus(t, h.push(agent1, action("work_orders", id, 1, "assign", "assignee_id", tech1.UserID)), "applied")
	res = h.push(tech1, action("work_orders", id, 2, "accept"), action("work_orders", id, 3, "start"),
		action("work_orders", id, 4, "complete", "resolution", "fixed", "signature_media_id", "0b0b0b0b-0000-4000-8000-000000000000"))
	wantStatus(t, res, "applied", "applied", "applied")
	res = h.push(tech1, action("work_orders", id, 5, "complete", "resolution", "again"))
	wantStatus(t, res, "rejected")
	if res[0].Error.Code != fieldsync.EInvalidTransit || res[0].Doc["status"] != "completed" {
		t.Fatalf("got %+v, want invalid_transition with doc", res[0])
	}
	r := newReplica(tech1)
	r.sync(t, h.e, 0)
	wo := r.docs["work_orders/"+id].Doc
	if wo["status"] != "completed" || wo["owner_phone"] != "*******5678" || wo["title_length"] != int64(4) || len(wo["timeline"].([]any)) != 1 {
		t.Fatalf("technician's order %v: want completed, phone masked, computed title_length, one timeline entry", wo)
	}
	if len(r.docs) != 2 {
		t.Fatalf("technician got %v, want the order and the inspection the action created", r.versions())
	}
	ag := newReplica(agent1)
	ag.sync(t, h.e, 0)
	if ag.docs["work_orders/"+id].Doc["owner_phone"] != "13812345678" {
		t.Fatal("desk role sees the phone masked")
	}
	// Reassigned: the old assignee's next pull deletes it; the new one's upserts it.
	wantStatus(t, h.push(agent1, action("work_orders", id, 6, "reopen")), "rejected") // reopen has no declared action here
	wantStatus(t, h.push(agent1, action("work_orders", id, 5, "assign", "assignee_id", tech2.UserID)), "rejected")
}

func TestCitations(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{})
	p1, p2, p3 := newID(), newID(), newID()
	a, b := newID(), newID()
	wantStatus(t, h.push(guard1, createInspection(a, "s1", "photo_ids", []string{p1, p2}), createInspection(b, "s1", "photo_ids", []string{p3})), "applied", "applied")
	wantStatus(t, h.push(guard1, del("inspections", b, 1)), "applied")
	got, err := h.e.Citing(as(guard1), tenant, []string{p1, p3})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].MediaID != p1 || got[0].Record.ID != a || got[0].Record.CreatedBy != guard1.UserID {
		t.Fatalf("got %+v, want p1 cited by %s only (b is deleted)", got, a)
	}
	all, err := h.e.CitedAtSite(as(guard1), tenant, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("got %+v, want p1 and p2", all)
	}
	if none, _ := h.e.Citing(as(guard1), "globex", []string{p1}); len(none) != 0 {
		t.Fatalf("other tenant sees %+v", none)
	}
}
