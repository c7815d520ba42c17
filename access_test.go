package fieldsync

import (
	"fmt"
	"testing"
	"time"
)

// TestAccessRules pins "who sees what" (PRODUCT.md) for every role, every
// collection, and a record at the caller's site, at another site of the
// tenant, and in another tenant with the caller's own site id.
// Each want cell is "read write" as r/-, w/-, for: own site, other site, other tenant.
func TestAccessRules(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	callers := map[string]*Caller{
		"guard":      {UserID: "g1", TenantID: "t1", Role: RoleGuard, SiteIDs: []string{"A"}},
		"technician": {UserID: "k1", TenantID: "t1", Role: RoleTechnician, Department: DeptEngineering, SiteIDs: []string{"A"}},
		"cs_agent":   {UserID: "c1", TenantID: "t1", Role: RoleCSAgent, SiteIDs: []string{"A"}},
		"supervisor": {UserID: "s1", TenantID: "t1", Role: RoleSupervisor, SiteIDs: []string{"A"}},
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
	//                                        guard       technician  cs_agent    supervisor  admin
	table := []struct {
		rec  rec
		want [5]string
	}{
		{rec{"site", base(CollSites)}, [5]string{"r- -- --", "r- -- --", "r- -- --", "r- -- --", "rw rw --"}},
		{rec{"checkpoint", base(CollCheckpoints)}, [5]string{"r- -- --", "r- -- --", "r- -- --", "r- -- --", "rw rw --"}},
		{rec{"route", base(CollPatrolRoutes)}, [5]string{"r- -- --", "r- -- --", "r- -- --", "r- -- --", "rw rw --"}},
		{rec{"someone's round", base(CollPatrolRounds)}, [5]string{"-- -- --", "-- -- --", "rw -- --", "rw -- --", "rw rw --"}},
		{rec{"own round", mine(CollPatrolRounds)}, [5]string{"rw -- --", "-- -- --", "rw -- --", "rw -- --", "rw rw --"}},
		{rec{"old inspection", base(CollInspections)}, [5]string{"-- -- --", "-- -- --", "rw -- --", "rw -- --", "rw rw --"}},
		{rec{"recent inspection", recent(CollInspections)}, [5]string{"r- -- --", "-- -- --", "rw -- --", "rw -- --", "rw rw --"}},
		{rec{"own old inspection", mine(CollInspections)}, [5]string{"rw -- --", "-- -- --", "rw -- --", "rw -- --", "rw rw --"}},
		{rec{"inspection linked to caller's order", assigned(CollInspections)}, [5]string{"-- -- --", "rw -- --", "rw -- --", "rw -- --", "rw rw --"}},
		{rec{"work order", base(CollWorkOrders)}, [5]string{"-- -- --", "-- -- --", "rw -- --", "rw -- --", "rw rw --"}},
		{rec{"work order assigned to caller", assigned(CollWorkOrders)}, [5]string{"-- -- --", "rw -- --", "rw -- --", "rw -- --", "rw rw --"}},
		{rec{"complaint", base(CollComplaints)}, [5]string{"-- -- --", "-- -- --", "rw -- --", "rw -- --", "rw rw --"}},
		{rec{"own complaint", mine(CollComplaints)}, [5]string{"rw -- --", "rw -- --", "rw -- --", "rw -- --", "rw rw --"}},
	}
	roles := []string{"guard", "technician", "cs_agent", "supervisor", "admin"}
	scopes := []struct{ name, tenant, site string }{{"own site", "t1", "A"}, {"other site", "t1", "B"}, {"other tenant", "t2", "A"}}
	for _, row := range table {
		for ri, role := range roles {
			c := callers[role]
			var got []string
			for _, sc := range scopes {
				ref := row.rec.ref(c)
				ref.TenantID, ref.SiteID = sc.tenant, sc.site
				cell := []byte("--")
				if CanRead(c, ref, now) {
					cell[0] = 'r'
				}
				if CanWrite(c, ref, now) {
					cell[1] = 'w'
				}
				got = append(got, string(cell))
			}
			if g := fmt.Sprint(got[0], " ", got[1], " ", got[2]); g != row.want[ri] {
				t.Errorf("%s as %s: got %q, want %q (own site, other site, other tenant)", row.rec.name, role, g, row.want[ri])
			}
		}
	}
}

// TestCreateRules pins who may create what where.
func TestCreateRules(t *testing.T) {
	callers := []*Caller{
		{UserID: "g1", TenantID: "t1", Role: RoleGuard, SiteIDs: []string{"A"}},
		{UserID: "k1", TenantID: "t1", Role: RoleTechnician, SiteIDs: []string{"A"}},
		{UserID: "c1", TenantID: "t1", Role: RoleCSAgent, SiteIDs: []string{"A"}},
		{UserID: "s1", TenantID: "t1", Role: RoleSupervisor, SiteIDs: []string{"A"}},
		{UserID: "a1", TenantID: "t1", Role: RoleAdmin},
	}
	// per collection: guard technician cs_agent supervisor admin, at own site ("y"/"-"); nobody creates at another site but admin.
	want := map[string]string{
		CollSites: "----y", CollCheckpoints: "----y", CollPatrolRoutes: "----y",
		CollPatrolRounds: "y---y", CollInspections: "y-yyy", CollWorkOrders: "--yyy", CollComplaints: "yyyyy",
		"unknown": "-----",
	}
	for coll, w := range want {
		var own, other []byte
		for _, c := range callers {
			own = append(own, yn(CanCreate(c, coll, "A")))
			other = append(other, yn(CanCreate(c, coll, "B")))
		}
		wantOther := "----" + w[4:]
		if string(own) != w || string(other) != wantOther {
			t.Errorf("%s: got own %s other %s, want own %s other %s", coll, own, other, w, wantOther)
		}
	}
	if CanCreate(nil, CollComplaints, "A") || CanRead(nil, RecordRef{}, time.Now()) || CanAdminister(nil) {
		t.Fatal("a nil caller may do something")
	}
	if !CanAdminister(callers[4]) || CanAdminister(callers[3]) {
		t.Fatal("only admins administer")
	}
}

func yn(b bool) byte {
	if b {
		return 'y'
	}
	return '-'
}
