package fieldsync_test

import (
	"reflect"
	"testing"
	"time"

	"fieldsync"
)

func TestWorkOrderStepEveryTransition(t *testing.T) {
	tech := &fieldsync.Caller{UserID: "t1", Role: fieldsync.RoleTechnician}
	other := &fieldsync.Caller{UserID: "t2", Role: fieldsync.RoleTechnician}
	cs := &fieldsync.Caller{UserID: "c1", Role: fieldsync.RoleCSAgent}
	guard := &fieldsync.Caller{UserID: "g1", Role: fieldsync.RoleGuard}
	states := []string{fieldsync.WOOpen, fieldsync.WOAssigned, fieldsync.WOAccepted, fieldsync.WOInProgress, fieldsync.WOOnHold, fieldsync.WOCompleted, fieldsync.WOVerified, fieldsync.WOCancelled}
	// want[action][state] = resulting state when allowed.
	want := map[string]map[string]string{
		"assign":   {"open": "assigned", "assigned": "assigned", "accepted": "assigned", "in_progress": "assigned", "on_hold": "assigned"},
		"accept":   {"assigned": "accepted"},
		"start":    {"accepted": "in_progress"},
		"hold":     {"in_progress": "on_hold"},
		"resume":   {"on_hold": "in_progress"},
		"complete": {"in_progress": "completed", "on_hold": "completed"},
		"verify":   {"completed": "verified"},
		"reopen":   {"completed": "assigned", "verified": "assigned"},
		"cancel":   {"open": "cancelled", "assigned": "cancelled", "accepted": "cancelled", "in_progress": "cancelled", "on_hold": "cancelled"},
	}
	assigneeActions := map[string]bool{"accept": true, "start": true, "hold": true, "resume": true, "complete": true}
	for action, allowed := range want {
		actor, intruder := cs, tech
		if assigneeActions[action] {
			actor, intruder = tech, other
		}
		for _, st := range states {
			got, err := fieldsync.Step(fieldsync.WorkOrderTransitions, st, action, actor, "t1")
			if to, ok := allowed[st]; ok {
				if err != nil || got != to {
					t.Errorf("%s from %s: got %q, %v; want %q", action, st, got, err, to)
				}
			} else if code := fieldsync.ErrorCode(err); code != fieldsync.EInvalidTransit {
				t.Errorf("%s from %s: got code %q, want invalid_transition", action, st, code)
			}
			for _, c := range []*fieldsync.Caller{intruder, guard} {
				if _, err := fieldsync.Step(fieldsync.WorkOrderTransitions, st, action, c, "t1"); fieldsync.ErrorCode(err) != fieldsync.EForbidden {
					t.Errorf("%s from %s by %s/%s: got %v, want forbidden", action, st, c.Role, c.UserID, err)
				}
			}
		}
	}
	if _, err := fieldsync.Step(fieldsync.WorkOrderTransitions, "open", "explode", cs, ""); fieldsync.ErrorField(err) != "action" {
		t.Errorf("unknown action: got %v, want invalid_input naming action", err)
	}
}

// The offline races: a technician completes an order reassigned or cancelled while offline.
func TestWorkOrderOfflineRaces(t *testing.T) {
	tech := &fieldsync.Caller{UserID: "t1", Role: fieldsync.RoleTechnician}
	if _, err := fieldsync.Step(fieldsync.WorkOrderTransitions, fieldsync.WOAssigned, "complete", tech, "t2"); fieldsync.ErrorCode(err) != fieldsync.EForbidden {
		t.Errorf("complete after reassignment: got %v, want forbidden", err)
	}
	if _, err := fieldsync.Step(fieldsync.WorkOrderTransitions, fieldsync.WOCancelled, "complete", tech, "t1"); fieldsync.ErrorCode(err) != fieldsync.EInvalidTransit {
		t.Errorf("complete after cancel: got %v, want invalid_transition", err)
	}
}

func TestDeadlinesAndBreaches(t *testing.T) {
	created := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for prio, want := range map[string][2]time.Duration{
		"urgent": {5 * time.Minute, 2 * time.Hour},
		"normal": {15 * time.Minute, 24 * time.Hour},
		"low":    {30 * time.Minute, 72 * time.Hour},
	} {
		r, s := fieldsync.Deadlines(fieldsync.DefaultSLAs, prio, created)
		if r.Sub(created) != want[0] || s.Sub(created) != want[1] {
			t.Errorf("%s: got respond %v resolve %v after creation, want %v %v", prio, r.Sub(created), s.Sub(created), want[0], want[1])
		}
	}
	r, s := fieldsync.Deadlines(fieldsync.DefaultSLAs, "urgent", created)
	now := created.Add(10 * time.Minute)
	if rb, sb := fieldsync.Breaches(now, r, s, time.Time{}, time.Time{}); !rb || sb {
		t.Errorf("10 min, not accepted: got respond %v resolve %v, want true false", rb, sb)
	}
	if rb, _ := fieldsync.Breaches(now, r, s, created.Add(4*time.Minute), time.Time{}); rb {
		t.Error("accepted in 4 min counted as a respond breach")
	}
	if _, sb := fieldsync.Breaches(created.Add(3*time.Hour), r, s, created.Add(time.Minute), created.Add(3*time.Hour)); !sb {
		t.Error("resolved after 3 h not counted as a resolve breach of an urgent order")
	}
}

func TestComplaintProcess(t *testing.T) {
	cs := &fieldsync.Caller{UserID: "c1", Role: fieldsync.RoleCSAgent}
	guard := &fieldsync.Caller{UserID: "g1", Role: fieldsync.RoleGuard}
	st := fieldsync.StageReceived
	for _, a := range []string{"clarify", "start_resolving", "resolve", "record_follow_up", "escalate", "resolve", "close"} {
		next, err := fieldsync.Step(fieldsync.ComplaintTransitions, st, a, cs, "")
		if err != nil {
			t.Fatalf("%s from %s: %v", a, st, err)
		}
		st = next
	}
	if st != fieldsync.StageClosed {
		t.Fatalf("got stage %s at the end, want closed", st)
	}
	if _, err := fieldsync.Step(fieldsync.ComplaintTransitions, fieldsync.StageClosed, "escalate", cs, ""); fieldsync.ErrorCode(err) != fieldsync.EInvalidTransit {
		t.Errorf("escalate a closed complaint: got %v, want invalid_transition", err)
	}
	if _, err := fieldsync.Step(fieldsync.ComplaintTransitions, fieldsync.StageReceived, "clarify", guard, ""); fieldsync.ErrorCode(err) != fieldsync.EForbidden {
		t.Errorf("a guard clarifying: got %v, want forbidden", err)
	}
}

func TestMaskPhone(t *testing.T) {
	for in, want := range map[string]string{
		"13812345678":       "*******5678",
		"+86 138-1234-5678": "+** ***-****-5678",
		"123":               "***",
		"":                  "",
	} {
		if got := fieldsync.MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSummarizeRound(t *testing.T) {
	start := time.Date(2026, 11, 2, 22, 0, 0, 0, time.UTC)
	loc := func(lat, lng float64) *fieldsync.GPS { return &fieldsync.GPS{Lat: lat, Lng: lng} }
	stops := []fieldsync.RouteStop{
		{CheckpointID: "c1", Code: "QR-1", Location: loc(31.2304, 121.4737), WindowEnd: 10 * time.Minute},
		{CheckpointID: "c2", Code: "QR-2", Location: loc(31.2310, 121.4740), WindowEnd: 20 * time.Minute},
		{CheckpointID: "c3", Code: "QR-3", Location: loc(31.2320, 121.4750), WindowEnd: 30 * time.Minute},
		{CheckpointID: "c4", Code: "QR-4", WindowEnd: 40 * time.Minute},
		{CheckpointID: "c5", Code: "QR-5", WindowEnd: 90 * time.Minute},
	}
	scans := []fieldsync.Scan{
		{Code: "QR-2", ScannedAt: start.Add(5 * time.Minute), GPS: loc(31.2310, 121.4740)},
		{CheckpointID: "c1", ScannedAt: start.Add(8 * time.Minute), GPS: loc(31.2404, 121.4737)}, // ~1.1 km away, out of order
		{Code: "QR-9", ScannedAt: start.Add(9 * time.Minute)},                                    // not on the route
		{CheckpointID: "c3", ScannedAt: start.Add(35 * time.Minute)},                             // late
	}
	got := fieldsync.SummarizeRound(fieldsync.Round{Stops: stops, Started: start, Scans: scans, MaxDistance: 100}, start.Add(45*time.Minute))
	want := fieldsync.RoundSummary{
		Missed: []string{"c4"}, Late: []string{"c3"}, OutOfOrder: []string{"c1"},
		OffRoute: []int{2}, FarAway: []int{1}, Pending: []string{"c5"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	// Ended: every stop not scanned is missed, also one whose window is still open.
	got = fieldsync.SummarizeRound(fieldsync.Round{Stops: stops, Started: start, Scans: scans, MaxDistance: 100, Ended: true}, start.Add(45*time.Minute))
	want.Missed, want.Pending = []string{"c4", "c5"}, []string{}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ended: got %+v\nwant %+v", got, want)
	}
	if d := fieldsync.DistanceMeters(*loc(31.2304, 121.4737), *loc(31.2404, 121.4737)); d < 1100 || d > 1125 {
		t.Fatalf("got distance %.0f m for 0.01° of latitude, want ~1112", d)
	}
}
