package field_test

import (
	"context"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/field"

	"github.com/google/uuid"
)

// TestSeedDemo: the demo week is there, in every status and stage, seeding
// again creates nothing, and the demo users see it by their scope.
func TestSeedDemo(t *testing.T) {
	t.Parallel()
	h := newField(t, field.Options{})
	users := map[string]string{}
	for _, u := range []string{"admin", "guard.a1", "guard.a2", "guard.b1", "tech.a1", "tech.a2", "cs.a1", "super.a1"} {
		users[u] = uuid.NewString()
	}
	seed := field.DemoSeed{Users: users, Now: time.Now().UTC()}
	n, err := field.SeedDemo(context.Background(), h.opener(), seed)
	if err != nil || n < 40 {
		t.Fatalf("seeded %d records: %v", n, err)
	}
	seed.Now = seed.Now.Add(time.Hour)
	if again, err := field.SeedDemo(context.Background(), h.opener(), seed); err != nil || again != 0 {
		t.Fatalf("second seed created %d: %v", again, err)
	}
	csA := &fieldsync.Caller{UserID: users["cs.a1"], TenantID: fieldsync.DemoTenant, DeviceID: "d-cs", Role: fieldsync.RoleCSAgent, SiteIDs: []string{fieldsync.DemoSiteA}}
	r := newReplica(csA)
	r.sync(t, h.e, 1000)
	count := map[string]int{}
	statuses, stages := map[string]bool{}, map[string]bool{}
	missed, offRoute := false, false
	for _, ch := range r.docs {
		count[ch.Collection]++
		switch ch.Collection {
		case fieldsync.CollWorkOrders:
			statuses[ch.Doc["status"].(string)] = true
		case fieldsync.CollComplaints:
			stages[ch.Doc["stage"].(string)] = true
			if ch.Doc["owner_phone"] == nil {
				t.Fatal("complaint without owner phone")
			}
		case fieldsync.CollPatrolRounds:
			missed = missed || ch.Doc["missed_alert"] == true
			if l, _ := ch.Doc["off_route_scans"].([]any); len(l) > 0 {
				offRoute = true
			}
		}
	}
	if count[fieldsync.CollSites] != 1 || count[fieldsync.CollCheckpoints] != 5 || count[fieldsync.CollPatrolRoutes] != 1 ||
		count[fieldsync.CollInspections] != 7 || count[fieldsync.CollPatrolRounds] < 6 {
		t.Fatalf("site A holds %v", count)
	}
	if len(statuses) != 8 || len(stages) != 5 || !missed || !offRoute {
		t.Fatalf("statuses %v stages %v missed %v off route %v", statuses, stages, missed, offRoute)
	}
	guardB := &fieldsync.Caller{UserID: users["guard.b1"], TenantID: fieldsync.DemoTenant, DeviceID: "d-gb", Role: fieldsync.RoleGuard, SiteIDs: []string{fieldsync.DemoSiteB}}
	g := newReplica(guardB)
	g.sync(t, h.e, 1000)
	if len(g.docs) != 7 {
		t.Fatalf("guard B holds %d records, want site B's 7 reference records", len(g.docs))
	}
	// The demo's work can go on through the engine: the technician starts the accepted order.
	tech := &fieldsync.Caller{UserID: users["tech.a2"], TenantID: fieldsync.DemoTenant, DeviceID: "d-t", Role: fieldsync.RoleTechnician, SiteIDs: []string{fieldsync.DemoSiteA}}
	tr := newReplica(tech)
	tr.sync(t, h.e, 1000)
	for _, ch := range tr.docs {
		if ch.Collection == fieldsync.CollWorkOrders && ch.Doc["status"] == fieldsync.WOAccepted {
			res := h.push(tech, action(fieldsync.CollWorkOrders, ch.ID, ch.Version, "start"))[0]
			wantApplied(t, res)
			return
		}
	}
	t.Fatal("tech.a2 holds no accepted order")
}
