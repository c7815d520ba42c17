package fieldsync

import (
	"testing"
	"time"
)

// TestAccessRules pins "who sees what" (PRODUCT.md) for every role, every
// collection, and a record at the caller's site, at another site of the
// tenant, and in another tenant with the caller's own site id. Each want cell
// is r (may read) or - for: own site, other site, other tenant. Who may
// change what is declared per collection and field (sync.Rule) and pinned by
// the sync package's TestWriteRules and the API's TestFieldWriteMatrix.
func TestAccessRules(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	callers := map[string]*Caller{
		"guard":      {UserID: "g1", TenantID: "t1", Role: RoleGuard, SiteIDs: []string{"A"}},
		"technician": {UserID: "k1", TenantID: "t1", Role: RoleTechnician, Department: DeptEngineering, SiteIDs: []string{"A"}},
		"cs_agent":   {UserID: "c1", TenantID: "t1", Role: RoleCSAgent, SiteIDs: []string{"A"}},
		"supervisor": {UserID: "s1", TenantID: "t1", Role: RoleSupervisor, SiteIDs: []string{"A"}},
		"manager":    {UserID: "m1", TenantID: "t1", Role: RoleManager, SiteIDs: []string{"A"}},
		"admin":      {UserID: "a1", TenantID: "t1", Role: RoleAdmin},
	}
	// Records created by someone else 10 days ago, assigned to nobody, unless the case says so.
	type rec struct {
		name string
		ref  func(c *Caller) RecordRef
	}
	base := func(coll string) func(*Caller) RecordRef {
		return func(*Caller) RecordRef {
			return RecordRef{Collection: coll, CreatedBy: "someone", CreatedAt: now.Add(-240 * time.Hour)}
		}
	}
	mine := func(coll string) func(*Caller) RecordRef {
		return func(c *Caller) RecordRef {
			return RecordRef{Collection: coll, CreatedBy: c.UserID, CreatedAt: now.Add(-240 * time.Hour)}
		}
	}
	recent := func(coll string) func(*Caller) RecordRef {
		return func(*Caller) RecordRef {
			return RecordRef{Collection: coll, CreatedBy: "someone", CreatedAt: now.Add(-24 * time.Hour)}
		}
	}
	assigned := func(coll string) func(*Caller) RecordRef {
		return func(c *Caller) RecordRef {
			return RecordRef{Collection: coll, CreatedBy: "someone", CreatedAt: now.Add(-240 * time.Hour), AssigneeIDs: []string{c.UserID}}
		}
	}
	//                                                   guard    technician cs_agent  supervisor manager  admin
	table := []struct {
		rec  rec
		want [6]string
	}{
		{rec{"site", base(CollSites)}, [6]string{"r--", "r--", "r--", "r--", "r--", "rr-"}},
		{rec{"checkpoint", base(CollCheckpoints)}, [6]string{"r--", "r--", "r--", "r--", "r--", "rr-"}},
		{rec{"route", base(CollPatrolRoutes)}, [6]string{"r--", "r--", "r--", "r--", "r--", "rr-"}},
		{rec{"someone's round", base(CollPatrolRounds)}, [6]string{"---", "---", "r--", "r--", "r--", "rr-"}},
		{rec{"own round", mine(CollPatrolRounds)}, [6]string{"r--", "---", "r--", "r--", "r--", "rr-"}},
		{rec{"old inspection", base(CollInspections)}, [6]string{"---", "---", "r--", "r--", "r--", "rr-"}},
		{rec{"recent inspection", recent(CollInspections)}, [6]string{"r--", "---", "r--", "r--", "r--", "rr-"}},
		{rec{"own old inspection", mine(CollInspections)}, [6]string{"r--", "r--", "r--", "r--", "r--", "rr-"}},
		{rec{"inspection linked to caller's order", assigned(CollInspections)}, [6]string{"---", "r--", "r--", "r--", "r--", "rr-"}},
		{rec{"work order", base(CollWorkOrders)}, [6]string{"---", "---", "r--", "r--", "r--", "rr-"}},
		{rec{"work order assigned to caller", assigned(CollWorkOrders)}, [6]string{"---", "r--", "r--", "r--", "r--", "rr-"}},
		{rec{"complaint", base(CollComplaints)}, [6]string{"---", "---", "r--", "r--", "r--", "rr-"}},
		{rec{"complaint linked to caller's order", assigned(CollComplaints)}, [6]string{"---", "r--", "r--", "r--", "r--", "rr-"}},
		{rec{"own complaint", mine(CollComplaints)}, [6]string{"r--", "r--", "r--", "r--", "r--", "rr-"}},
	}
	roles := []string{"guard", "technician", "cs_agent", "supervisor", "manager", "admin"}
	scopes := []struct{ name, tenant, site string }{{"own site", "t1", "A"}, {"other site", "t1", "B"}, {"other tenant", "t2", "A"}}
	for _, row := range table {
		for ri, role := range roles {
			c := callers[role]
			got := []byte("---")
			for i, sc := range scopes {
				ref := row.rec.ref(c)
				ref.TenantID, ref.SiteID = sc.tenant, sc.site
				if CanRead(c, ref, now) {
					got[i] = 'r'
				}
			}
			if string(got) != row.want[ri] {
				t.Errorf("%s as %s: got %q, want %q (own site, other site, other tenant)", row.rec.name, role, got, row.want[ri])
			}
		}
	}
	if CanRead(nil, RecordRef{}, now) || CanAdminister(nil) || CanListStaff(nil) {
		t.Fatal("a nil caller may do something")
	}
	if !CanAdminister(callers["admin"]) || CanAdminister(callers["manager"]) {
		t.Fatal("only admins administer")
	}
	for role, want := range map[string]bool{"guard": false, "technician": false, "cs_agent": true, "supervisor": true, "manager": true, "admin": true} {
		if CanListStaff(callers[role]) != want || CanReport(callers[role], "A") != want {
			t.Errorf("%s: staff directory and reports %v, want %v", role, CanListStaff(callers[role]), want)
		}
	}
}
