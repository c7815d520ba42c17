package field_test

import (
	"testing"
	"time"

	"fieldsync"
	"fieldsync/field"
	fsync "fieldsync/sync"
)

const cp = fieldsync.CollComplaints

func (h *harness) newComplaint(c *fieldsync.Caller, kv ...any) string {
	h.tb.Helper()
	id := newID()
	f := fields(append([]any{"site_id", "s1", "channel", "phone", "owner_name", "Li Wei", "owner_phone", "+86 138-1234-5678",
		"unit", "3-201", "category", "sanitation", "content", "rubbish not collected"}, kv...)...)
	wantStatus(h.tb, h.push(c, fieldsync.Mutation{MutationID: newID(), Collection: cp, Op: fieldsync.OpCreate, ID: id, Fields: f}), "applied")
	return id
}

// TestComplaintProcess walks the complaint stages through the engine, with
// reply deadlines per stage, escalation levels and the follow-up.
func TestComplaintProcess(t *testing.T) {
	t.Parallel()
	h := newField(t, field.Options{})
	id := h.newComplaint(guard1)
	start := h.now.Now()
	d := h.docOf(agent1, cp, id)
	wantField(t, d, "stage", fieldsync.StageReceived)
	wantField(t, d, "reply_by", start.Add(2*time.Hour).UTC().Format(time.RFC3339Nano))
	wantField(t, d, "escalation_level", int64(0))
	steps := []step{
		{guard1, "clarify", nil, fieldsync.EForbidden, ""},
		{tech1, "clarify", nil, fieldsync.EForbidden, ""},
		{agent1, "resolve", nil, fieldsync.EInvalidTransit, ""},
		{agent1, "escalate", []any{"reason", "x"}, fieldsync.EInvalidTransit, ""},
		{agent1, "clarify", []any{"category", "noise"}, "", fieldsync.StageClarifying},
		{agent1, "close", []any{"result_summary", "x"}, fieldsync.EInvalidTransit, ""},
		{agent1, "start_resolving", []any{"notes", "calling environment"}, "", fieldsync.StageResolving},
		{agent1, "escalate", nil, fieldsync.EInvalid, ""}, // the escalating person's reason is required
		{agent1, "escalate", []any{"reason", "owner not satisfied"}, "", fieldsync.StageResolving},
		{agent1, "resolve", nil, "", fieldsync.StageFollowUp},
		{agent1, "close", []any{"result_summary", "x"}, fieldsync.EInvalidTransit, ""}, // no follow-up yet
		{agent1, "record_follow_up", []any{"method", "phone", "satisfaction", 0}, fieldsync.EInvalid, ""},
		{agent1, "record_follow_up", []any{"method", "phone", "satisfaction", 2, "notes", "still smells"}, "", fieldsync.StageFollowUp},
		{agent1, "escalate", []any{"reason", "upper department must act"}, fieldsync.EForbidden, ""}, // level 2: a supervisor's call
		{super2Of("s1"), "escalate", []any{"reason", "upper department must act"}, "", fieldsync.StageResolving},
		{agent1, "escalate", []any{"reason", "again"}, fieldsync.EInvalidTransit, ""}, // level 2 is the top
		{agent1, "resolve", []any{"notes", "bins replaced"}, "", fieldsync.StageFollowUp},
		{agent1, "record_follow_up", []any{"method", "visit", "satisfaction", 5}, "", fieldsync.StageFollowUp},
		{agent1, "close", nil, fieldsync.EInvalid, ""},
		{agent1, "close", []any{"result_summary", "bins replaced, owner satisfied"}, "", fieldsync.StageClosed},
		{agent1, "clarify", nil, fieldsync.EInvalidTransit, ""},
	}
	h.walk(cp, id, "stage", steps, func(s step, d map[string]any) {
		switch s.action {
		case "escalate":
			// Each escalation sets a new reply deadline: 24 h from now, and
			// voids the follow-up call made before it.
			wantField(t, d, "reply_by", h.now.Now().Add(fieldsync.EscalationDeadline).UTC().Format(time.RFC3339Nano))
			wantField(t, d, "followed_up_at", nil)
			wantField(t, d, "satisfaction", nil)
		case "resolve":
			wantField(t, d, "reply_by", h.now.Now().Add(72*time.Hour).UTC().Format(time.RFC3339Nano))
			wantField(t, d, "follow_up_due", h.now.Now().Add(72*time.Hour).UTC().Format(time.RFC3339Nano))
		}
	})
	d = h.docOf(agent1, cp, id)
	wantField(t, d, "escalation_level", int64(2))
	wantField(t, d, "escalated_to", "upper_department")
	wantField(t, d, "category", "noise")
	wantField(t, d, "valid", true)
	wantField(t, d, "satisfaction", int64(5))
	wantField(t, d, "follow_up_method", "visit")
	wantField(t, d, "result_summary", "bins replaced, owner satisfied")
	wantField(t, d, "reply_by", nil)
	if esc := d["escalations"].([]any); len(esc) != 2 || esc[0].(map[string]any)["reason"] != "owner not satisfied" || esc[1].(map[string]any)["level"] != int64(2) {
		t.Fatalf("escalations %v", esc)
	}
}

// TestComplaintInvalidAndOverdue: an invalid complaint is answered and closed
// with its reason; a complaint left past its reply deadline escalates by
// itself, one level per missed deadline, and is flagged overdue at the top.
func TestComplaintInvalidAndOverdue(t *testing.T) {
	t.Parallel()
	h := newField(t, field.Options{})
	bad := h.newComplaint(agent1)
	late := h.newComplaint(agent1)
	wantApplied(t, h.act(agent1, cp, bad, "invalidate", "reason", "not our property"))
	d := h.docOf(agent1, cp, bad)
	wantField(t, d, "stage", fieldsync.StageClosed)
	wantField(t, d, "valid", false)
	wantField(t, d, "validity_reason", "not our property")
	h.now.Advance(3 * time.Hour)
	if _, err := h.e.RunJobsOnce(as(admin), fsync.JobOptions{Jobs: field.Jobs}); err != nil {
		t.Fatal(err)
	}
	d = h.docOf(agent1, cp, late)
	wantField(t, d, "escalation_level", int64(1))
	wantField(t, d, "escalated_to", "supervisor")
	wantField(t, d, "overdue", false)
	wantField(t, d, "reply_by", h.now.Now().Add(fieldsync.EscalationDeadline).UTC().Format(time.RFC3339Nano))
	wantField(t, h.docOf(agent1, cp, bad), "overdue", false)
	wantField(t, h.docOf(agent1, cp, bad), "escalation_level", int64(0))
	for level := int64(2); level <= 3; level++ {
		h.now.Advance(fieldsync.EscalationDeadline + time.Minute)
		if _, err := h.e.RunJobsOnce(as(admin), fsync.JobOptions{Jobs: field.Jobs}); err != nil {
			t.Fatal(err)
		}
		d = h.docOf(agent1, cp, late)
		wantField(t, d, "escalation_level", min(level, fieldsync.MaxEscalation))
		wantField(t, d, "overdue", level > fieldsync.MaxEscalation) // past the top level's deadline
	}
	// Moving on clears it: the next stage has its own deadline.
	wantApplied(t, h.act(agent1, cp, late, "clarify"))
	wantField(t, h.docOf(agent1, cp, late), "overdue", false)
}

// TestComplaintWorkOrders: an order created from a complaint links both ways
// and the complaint follows its progress; an unhappy verification opens a complaint.
func TestComplaintWorkOrders(t *testing.T) {
	t.Parallel()
	h := newField(t, field.Options{})
	cid := h.newComplaint(agent1)
	oid := newID()
	r := h.act(agent1, cp, cid, "create_work_order", "work_order_id", oid, "title", "clean bin area")
	wantCode(t, r, fieldsync.EInvalidTransit) // still received: clarify first
	wantApplied(t, h.act(agent1, cp, cid, "clarify"))
	wantCode(t, h.act(guard1, cp, cid, "create_work_order", "work_order_id", oid, "title", "clean"), fieldsync.EForbidden)
	wantApplied(t, h.act(agent1, cp, cid, "create_work_order", "work_order_id", oid, "title", "clean bin area",
		"department", "environment", "priority", "urgent", "assignee_id", tech1.UserID))
	c := h.docOf(agent1, cp, cid)
	wantField(t, c, "stage", fieldsync.StageResolving)
	o := h.docOf(tech1, wo, oid)
	wantField(t, o, "status", fieldsync.WOAssigned)
	wantField(t, o, "source", "complaint")
	wantField(t, o, "department", "environment")
	wantField(t, o, "category", "sanitation")
	if l := o["complaint_ids"].([]any); len(l) != 1 || l[0] != cid {
		t.Fatalf("order complaint_ids %v", l)
	}
	wantApplied(t, h.act(tech1, wo, oid, "accept"))
	c = h.docOf(agent1, cp, cid)
	prog := c["work_orders"].([]any)
	if len(prog) != 1 || prog[0].(map[string]any)["status"] != fieldsync.WOAccepted || c["work_order_ids"].([]any)[0] != oid {
		t.Fatalf("complaint progress %v ids %v", prog, c["work_order_ids"])
	}
	wantApplied(t, h.act(tech1, wo, oid, "start"))
	wantApplied(t, h.act(tech1, wo, oid, "complete", "resolution", "cleaned"))
	wantApplied(t, h.act(agent1, wo, oid, "verify", "satisfaction", 1, "notes", "still dirty"))
	o = h.docOf(agent1, wo, oid)
	ids := o["complaint_ids"].([]any)
	if len(ids) != 2 {
		t.Fatalf("an unhappy verification opened no complaint: %v", ids)
	}
	nc := h.docOf(agent1, cp, ids[1].(string))
	wantField(t, nc, "stage", fieldsync.StageReceived)
	wantField(t, nc, "owner_phone", "+86 138-1234-5678")
	wantField(t, nc, "unit", "3-201")
	if l := nc["work_order_ids"].([]any); len(l) != 1 || l[0] != oid {
		t.Fatalf("new complaint not linked to the order: %v", l)
	}
	wantField(t, h.docOf(agent1, cp, cid)["work_orders"].([]any)[0].(map[string]any), "status", fieldsync.WOVerified)
}
