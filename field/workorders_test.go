package field_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/field"
	fsync "fieldsync/sync"
)

const wo = fieldsync.CollWorkOrders

// TestWorkOrderMachine walks every transition of the work order machine
// through the engine: allowed, refused by state and refused by role.
func TestWorkOrderMachine(t *testing.T) {
	t.Parallel()
	h := newField(t, field.Options{})
	id := h.newOrder()
	steps := []step{
		{tech1, "accept", nil, fieldsync.EForbidden, ""}, // not assigned to anyone
		{agent1, "start", nil, fieldsync.EForbidden, ""}, // only the assignee
		{tech1, "assign", []any{"assignee_id", tech1.UserID}, fieldsync.EForbidden, ""},
		{agent1, "assign", nil, fieldsync.EInvalid, ""}, // assignee_id required
		{agent1, "assign", []any{"assignee_id", "x"}, fieldsync.EInvalid, ""},
		{agent1, "verify", []any{"satisfaction", 5}, fieldsync.EInvalidTransit, ""},
		{agent1, "assign", []any{"assignee_id", tech1.UserID}, "", fieldsync.WOAssigned},
		{tech2, "accept", nil, fieldsync.EForbidden, ""},
		{tech1, "start", nil, fieldsync.EInvalidTransit, ""},
		{tech1, "accept", nil, "", fieldsync.WOAccepted},
		{tech1, "complete", []any{"resolution", "fixed"}, fieldsync.EInvalidTransit, ""},
		{tech1, "start", nil, "", fieldsync.WOInProgress},
		{tech1, "hold", nil, fieldsync.EInvalid, ""}, // reason required
		{tech1, "resume", nil, fieldsync.EInvalidTransit, ""},
		{tech1, "hold", []any{"reason", "waiting for a valve"}, "", fieldsync.WOOnHold},
		{tech1, "resume", nil, "", fieldsync.WOInProgress},
		{tech1, "complete", []any{"parts", []string{"valve"}}, fieldsync.EInvalid, ""}, // resolution required
		{tech1, "complete", []any{"resolution", "replaced the valve", "parts", []string{"valve"},
			"signature_media_id", "11111111-1111-4111-8111-111111111111", "after_photo_ids", []string{"22222222-2222-4222-8222-222222222222"}}, "", fieldsync.WOCompleted},
		{tech1, "cancel", []any{"reason", "x"}, fieldsync.EForbidden, ""},
		{agent1, "cancel", []any{"reason", "x"}, fieldsync.EInvalidTransit, ""},
		{tech1, "verify", []any{"satisfaction", 5}, fieldsync.EForbidden, ""},
		{agent1, "verify", []any{"satisfaction", 6}, fieldsync.EInvalid, ""},
		{agent1, "verify", []any{"satisfaction", 4, "notes", "owner happy"}, "", fieldsync.WOVerified},
		{agent1, "reopen", nil, fieldsync.EInvalid, ""},
		{agent1, "reopen", []any{"reason", "leaks again"}, "", fieldsync.WOAssigned},
		{tech1, "accept", nil, "", fieldsync.WOAccepted},
		{super2, "cancel", []any{"reason", "dup"}, fieldsync.EForbidden, ""}, // supervisor of another site
		{agent1, "cancel", []any{"reason", "duplicate"}, "", fieldsync.WOCancelled},
		{agent1, "assign", []any{"assignee_id", tech2.UserID}, fieldsync.EInvalidTransit, ""},
		{agent1, "reopen", []any{"reason", "x"}, fieldsync.EInvalidTransit, ""},
	}
	applied := h.walk(wo, id, "status", steps, nil)
	d := h.docOf(agent1, wo, id)
	tl, _ := d["timeline"].([]any)
	if len(tl) != applied+1 { // + create
		t.Fatalf("timeline has %d entries, want %d: %v", len(tl), applied+1, tl)
	}
	last := tl[len(tl)-1].(map[string]any)
	if last["action"] != "cancel" || last["by"] != agent1.UserID || last["from"] != fieldsync.WOAccepted || last["to"] != fieldsync.WOCancelled || last["note"] != "duplicate" {
		t.Fatalf("last timeline entry %v", last)
	}
	wantField(t, d, "cancel_reason", "duplicate")
	wantField(t, d, "reopen_reason", "leaks again")
	if d["completed_at"] != nil || d["satisfaction"] != nil {
		t.Fatalf("reopen kept completion: %v %v", d["completed_at"], d["satisfaction"])
	}
}

// TestWorkOrderCompleteRecordsEvidence checks what complete stores.
func TestWorkOrderCompleteRecordsEvidence(t *testing.T) {
	t.Parallel()
	h := newField(t, field.Options{})
	id := h.newOrder("before_photo_ids", []string{"33333333-3333-4333-8333-333333333333"})
	h.startOrder(id, tech1)
	wantApplied(t, h.act(tech1, wo, id, "complete", "resolution", "replaced", "parts", []string{"valve", "tape"},
		"signature_media_id", "11111111-1111-4111-8111-111111111111", "after_photo_ids", []string{"22222222-2222-4222-8222-222222222222"}))
	d := h.docOf(tech1, wo, id)
	wantField(t, d, "resolution", "replaced")
	wantField(t, d, "signature_media_id", "11111111-1111-4111-8111-111111111111")
	if fmt.Sprint(d["parts"]) != "[valve tape]" || fmt.Sprint(d["after_photo_ids"]) != "[22222222-2222-4222-8222-222222222222]" {
		t.Fatalf("parts %v after %v", d["parts"], d["after_photo_ids"])
	}
	if d["completed_at"] == nil || d["accepted_at"] == nil || d["started_at"] == nil {
		t.Fatalf("timestamps missing: %v", d)
	}
	cites, err := h.e.Citing(as(admin), tenant, []string{"11111111-1111-4111-8111-111111111111", "33333333-3333-4333-8333-333333333333"})
	if err != nil || len(cites) != 2 {
		t.Fatalf("citations %v %v", cites, err)
	}
}

// TestWorkOrderOfflineRaces: what a phone that was offline finds when it syncs.
func TestWorkOrderOfflineRaces(t *testing.T) {
	t.Parallel()
	t.Run("completing a reassigned order is forbidden and the order left the phone", func(t *testing.T) {
		t.Parallel()
		h := newField(t, field.Options{})
		id := h.newOrder()
		h.startOrder(id, tech1)
		phone1 := newReplica(tech1)
		phone1.sync(t, h.e, 100)
		base := phone1.docs[wo+"/"+id].Version
		// tech1 goes offline; the desk reassigns the order to tech2.
		wantApplied(t, h.act(agent1, wo, id, "assign", "assignee_id", tech2.UserID))
		r := h.push(tech1, action(wo, id, base, "complete", "resolution", "done offline"))[0]
		wantCode(t, r, fieldsync.EForbidden)
		if r.Doc != nil {
			t.Fatalf("the doc of an order that left the caller's scope was handed back: %v", r.Doc)
		}
		phone1.sync(t, h.e, 100)
		if _, ok := phone1.docs[wo+"/"+id]; ok {
			t.Fatal("the reassigned order is still on the old assignee's phone")
		}
		phone2 := newReplica(tech2)
		phone2.sync(t, h.e, 100)
		d := phone2.docs[wo+"/"+id].Doc
		wantField(t, d, "status", fieldsync.WOAssigned)
		wantField(t, d, "assignee_id", tech2.UserID)
	})
	t.Run("completing a cancelled order is an invalid transition with the doc", func(t *testing.T) {
		t.Parallel()
		h := newField(t, field.Options{})
		id := h.newOrder()
		wantApplied(t, h.act(agent1, wo, id, "assign", "assignee_id", tech1.UserID))
		wantApplied(t, h.act(tech1, wo, id, "accept"))
		base := h.version(wo, id)
		wantApplied(t, h.act(tech1, wo, id, "start"))
		wantApplied(t, h.act(agent1, wo, id, "cancel", "reason", "owner withdrew"))
		r := h.push(tech1, action(wo, id, base, "complete", "resolution", "done offline"))[0]
		wantCode(t, r, fieldsync.EInvalidTransit)
		wantField(t, r.Doc, "status", fieldsync.WOCancelled)
	})
	t.Run("two agents assign the same order at once: one wins, the other gets a conflict", func(t *testing.T) {
		t.Parallel()
		h := newField(t, field.Options{})
		agent2 := &fieldsync.Caller{UserID: "u-agent2", TenantID: tenant, DeviceID: "d-agent2", Role: fieldsync.RoleCSAgent, SiteIDs: []string{"s1"}}
		id := h.newOrder()
		base := h.version(wo, id)
		var wg gosync.WaitGroup
		res := make([]fieldsync.MutationResult, 2)
		for i, c := range []*fieldsync.Caller{agent1, agent2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i] = pushTo(t, h.e, c, action(wo, id, base, "assign", "assignee_id", []string{tech1.UserID, tech2.UserID}[i]))[0]
			}()
		}
		wg.Wait()
		won := -1
		for i, r := range res {
			if r.Status == fieldsync.StatusApplied {
				won = i
			}
		}
		lost := 1 - won
		if won < 0 || res[lost].Status != fieldsync.StatusRejected || res[lost].Error.Code != fieldsync.EConflict {
			t.Fatalf("results %+v %+v", res[0], res[1])
		}
		wantField(t, res[lost].Doc, "assignee_id", []string{tech1.UserID, tech2.UserID}[won])
		wantField(t, h.docOf(agent1, wo, id), "assignee_id", []string{tech1.UserID, tech2.UserID}[won])
		// Having seen it, the loser may reassign deliberately.
		wantApplied(t, h.act(agent2, wo, id, "assign", "assignee_id", tech2.UserID))
	})
}

// TestWorkOrderDeadlines: deadlines from priority (tenant table), breaches
// computed by the server, late urgent orders escalated by the job.
func TestWorkOrderDeadlines(t *testing.T) {
	t.Parallel()
	h := newField(t, field.Options{SLAs: map[string]map[string]fieldsync.SLA{
		tenant: {fieldsync.PriorityLow: {RespondWithin: time.Hour, ResolveWithin: 10 * time.Hour}}}})
	start := h.now.Now()
	urgent := h.newOrder("priority", "urgent")
	normal := h.newOrder("priority", "normal")
	low := h.newOrder("priority", "low")
	d := h.docOf(agent1, wo, urgent)
	wantField(t, d, "respond_by", start.Add(5*time.Minute).UTC().Format(time.RFC3339Nano))
	wantField(t, d, "resolve_by", start.Add(2*time.Hour).UTC().Format(time.RFC3339Nano))
	wantField(t, h.docOf(agent1, wo, low), "resolve_by", start.Add(10*time.Hour).UTC().Format(time.RFC3339Nano))
	wantField(t, h.docOf(agent1, wo, normal), "resolve_by", start.Add(24*time.Hour).UTC().Format(time.RFC3339Nano))
	wantApplied(t, h.act(agent1, wo, normal, "assign", "assignee_id", tech1.UserID))
	wantApplied(t, h.act(tech1, wo, normal, "accept"))

	h.now.Advance(6 * time.Minute)
	if _, err := h.e.RunJobsOnce(as(admin), fsync.JobOptions{Jobs: field.Jobs}); err != nil {
		t.Fatal(err)
	}
	d = h.docOf(super2Of("s1"), wo, urgent)
	wantField(t, d, "respond_breached", true)
	wantField(t, d, "resolve_breached", false)
	wantField(t, d, "overdue", true)
	wantField(t, d, "escalated", true)
	wantField(t, d, "escalated_to", "supervisor")
	d = h.docOf(agent1, wo, normal)
	wantField(t, d, "respond_breached", false)
	wantField(t, d, "escalated", false)

	// A second run changes nothing.
	v := h.version(wo, urgent)
	if _, err := h.e.RunJobsOnce(as(admin), fsync.JobOptions{Jobs: field.Jobs}); err != nil {
		t.Fatal(err)
	}
	if got := h.version(wo, urgent); got != v {
		t.Fatalf("a second job run made version %d from %d", got, v)
	}
	h.now.Advance(25 * time.Hour)
	if _, err := h.e.RunJobsOnce(as(admin), fsync.JobOptions{Jobs: field.Jobs}); err != nil {
		t.Fatal(err)
	}
	wantField(t, h.docOf(agent1, wo, normal), "resolve_breached", true)
	tl := h.docOf(agent1, wo, urgent)["timeline"].([]any)
	escalations := 0
	for _, e := range tl {
		if e.(map[string]any)["action"] == "escalate" {
			escalations++
		}
	}
	if escalations != 1 {
		t.Fatalf("%d escalation entries, want 1: %v", escalations, tl)
	}
}

func super2Of(site string) *fieldsync.Caller {
	return &fieldsync.Caller{UserID: "u-super-" + site, TenantID: tenant, DeviceID: "d-super-" + site, Role: fieldsync.RoleSupervisor, SiteIDs: []string{site}}
}

// TestJobsConcurrentInstances: two API instances run the jobs at once; one
// holds the tenant's lease, the marks are written once.
func TestJobsConcurrentInstances(t *testing.T) {
	t.Parallel()
	h := newField(t, field.Options{})
	e2 := h.open(fsync.Options{Collections: field.Collections(field.Options{})})
	id := h.newOrder("priority", "urgent")
	v := h.version(wo, id)
	h.now.Advance(10 * time.Minute)
	var wg gosync.WaitGroup
	ran := make([][]string, 2)
	for i, e := range []*fsync.Engine{h.e, e2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			ran[i], err = e.RunJobsOnce(as(admin), fsync.JobOptions{Holder: fmt.Sprint("instance-", i), Lease: time.Minute, Jobs: field.Jobs})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(ran[0])+len(ran[1]) != 1 {
		t.Fatalf("tenants run: %v and %v; want exactly one instance to run the tenant", ran[0], ran[1])
	}
	if got := h.version(wo, id); got != v+1 {
		t.Fatalf("version %d, want %d (marked once)", got, v+1)
	}
	wantField(t, h.docOf(agent1, wo, id), "respond_breached", true)
	// The holder dies; once its lease expires the other instance takes over.
	holder, other := 0, 1
	if len(ran[1]) == 1 {
		holder, other = 1, 0
	}
	engines := []*fsync.Engine{h.e, e2}
	if r, _ := engines[other].RunJobsOnce(as(admin), fsync.JobOptions{Holder: fmt.Sprint("instance-", other), Lease: time.Minute, Jobs: field.Jobs}); len(r) != 0 {
		t.Fatalf("instance %d ran while %d holds the lease", other, holder)
	}
	h.now.Advance(2 * time.Minute)
	if r, _ := engines[other].RunJobsOnce(as(admin), fsync.JobOptions{Holder: fmt.Sprint("instance-", other), Lease: time.Minute, Jobs: field.Jobs}); len(r) != 1 {
		t.Fatalf("instance %d did not take over an expired lease", other)
	}
}

// TestRepeatRepairLinked: a repair at the same unit and category within 30
// days of a completed one is linked to it.
func TestRepeatRepairLinked(t *testing.T) {
	t.Parallel()
	h := newField(t, field.Options{})
	first := h.newOrder("category", "facilities")
	h.startOrder(first, tech1)
	wantApplied(t, h.act(tech1, wo, first, "complete", "resolution", "sealed"))
	h.now.Advance(10 * 24 * time.Hour)
	again := h.newOrder("category", "facilities")
	otherCat := h.newOrder("category", "greening")
	otherUnit := h.newOrder("category", "facilities", "unit", "9-901")
	h.now.Advance(30 * 24 * time.Hour)
	late := h.newOrder("category", "facilities")
	if _, err := h.e.RunJobsOnce(as(admin), fsync.JobOptions{Jobs: field.Jobs}); err != nil {
		t.Fatal(err)
	}
	wantField(t, h.docOf(agent1, wo, again), "repeat_of", first)
	for _, id := range []string{first, otherCat, otherUnit, late} {
		wantField(t, h.docOf(agent1, wo, id), "repeat_of", nil)
	}
}

// staff is a fieldsync.UserFinder over a fixed list (the auth service
// implements it for real; this package's tests run without it).
type staff map[string]*fieldsync.User

var _ fieldsync.UserFinder = staff(nil)

func (s staff) User(_ context.Context, tenant, id string) (*fieldsync.User, error) {
	if u := s[id]; u != nil && u.TenantID == tenant {
		return u, nil
	}
	return nil, fieldsync.Errorf(fieldsync.ENotFound, "no such user")
}

func (s staff) Staff(_ context.Context, tenant, site string) ([]*fieldsync.User, error) {
	var out []*fieldsync.User
	for _, u := range s {
		if u.TenantID == tenant && u.Active && slices.Contains(u.SiteIDs, site) {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b *fieldsync.User) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// TestAssigneeChecked: with a user finder, an order is only assigned to an
// active user of its site.
func TestAssigneeChecked(t *testing.T) {
	t.Parallel()
	gone, elsewhere := "00000000-0000-4000-8000-00000000000d", "00000000-0000-4000-8000-00000000000e"
	users := staff{
		tech1.UserID: {ID: tech1.UserID, TenantID: tenant, Role: fieldsync.RoleTechnician, SiteIDs: []string{"s1"}, Active: true},
		gone:         {ID: gone, TenantID: tenant, Role: fieldsync.RoleTechnician, SiteIDs: []string{"s1"}, Active: false},
		elsewhere:    {ID: elsewhere, TenantID: tenant, Role: fieldsync.RoleTechnician, SiteIDs: []string{"s2"}, Active: true},
	}
	h := newField(t, field.Options{Users: users})
	id := h.newOrder()
	for _, bad := range []string{gone, elsewhere, tech2.UserID} {
		r := h.act(agent1, wo, id, "assign", "assignee_id", bad)
		wantCode(t, r, fieldsync.EInvalid)
		if r.Error.Field != "args.assignee_id" {
			t.Fatalf("error names %q", r.Error.Field)
		}
	}
	wantApplied(t, h.act(agent1, wo, id, "assign", "assignee_id", tech1.UserID))
	cid := h.newComplaint(agent1)
	wantApplied(t, h.act(agent1, cp, cid, "clarify"))
	wantCode(t, h.act(agent1, cp, cid, "create_work_order", "work_order_id", newID(), "title", "x", "assignee_id", elsewhere), fieldsync.EInvalid)
}
