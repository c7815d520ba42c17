package field_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/field"
)

// TestFieldScope: guards, technicians and the desks of sites A and B see
// exactly what PRODUCT.md says, in pull and in bootstrap.
func TestFieldScope(t *testing.T) {
	t.Parallel()
	h := newField(t, field.Options{})
	const A, B = "00000000-0000-7000-8000-0000000000a1", "00000000-0000-7000-8000-0000000000b1"
	gA1, gA2, gB := at(guard1, A), at(guard2, A), at(guard1, B)
	gB.UserID, gB.DeviceID = "u-guardB", "d-guardB"
	tA1, tA2 := at(tech1, A), at(tech2, A)
	csA, supB := at(agent1, A), at(super2, B)
	keys := map[string][]string{} // who → records they must see
	add := func(coll, id string, who ...string) {
		for _, w := range who {
			keys[w] = append(keys[w], coll+"/"+id)
		}
	}
	// Reference data of both sites.
	for _, s := range []struct{ site, cp, route string }{{A, newID(), newID()}, {B, newID(), newID()}} {
		wantStatus(t, h.push(admin,
			create(fieldsync.CollSites, s.site, "site_id", s.site, "name", "site"),
			create(fieldsync.CollCheckpoints, s.cp, "site_id", s.site, "name", "gate", "code", "QR-"+s.site),
			create(fieldsync.CollPatrolRoutes, s.route, "site_id", s.site, "name", "r", "stops", []any{map[string]any{"checkpoint_id": s.cp}})),
			"applied", "applied", "applied")
		who := []string{"gA1", "gA2", "tA1", "tA2", "csA"}
		if s.site == B {
			who = []string{"gB", "supB"}
		}
		add(fieldsync.CollSites, s.site, who...)
		add(fieldsync.CollCheckpoints, s.cp, who...)
		add(fieldsync.CollPatrolRoutes, s.route, who...)
	}
	// An old inspection by guard A2, later raised as an order for technician A1.
	oldIns := newID()
	wantApplied(t, h.push(gA2, createInspection(oldIns, A))[0])
	add(fieldsync.CollInspections, oldIns, "gA2", "csA", "tA1")
	h.now.Advance(8 * 24 * time.Hour)
	o1 := newID()
	wantApplied(t, h.push(csA, action(fieldsync.CollInspections, oldIns, 1, "raise_work_order", "work_order_id", o1, "title", "fix", "assignee_id", tA1.UserID))[0])
	add(wo, o1, "tA1", "csA")
	o2, o3, o4 := newID(), newID(), newID()
	wantStatus(t, h.push(csA, create(wo, o2, "site_id", A, "title", "t2", "owner_phone", "13812345678"), create(wo, o3, "site_id", A, "title", "t3")), "applied", "applied")
	wantApplied(t, h.push(csA, action(wo, o2, 1, "assign", "assignee_id", tA2.UserID))[0])
	add(wo, o2, "tA2", "csA")
	add(wo, o3, "csA")
	wantApplied(t, h.push(supB, create(wo, o4, "site_id", B, "title", "t4"))[0])
	add(wo, o4, "supB")
	// Recent inspections, rounds and complaints.
	i1, i2, i3 := newID(), newID(), newID()
	wantApplied(t, h.push(gA1, createInspection(i1, A))[0])
	wantApplied(t, h.push(gA2, createInspection(i2, A))[0])
	wantApplied(t, h.push(gB, createInspection(i3, B))[0])
	add(fieldsync.CollInspections, i1, "gA1", "gA2", "csA")
	add(fieldsync.CollInspections, i2, "gA1", "gA2", "csA")
	add(fieldsync.CollInspections, i3, "gB", "supB")
	r1, r2 := newID(), newID()
	now := h.now.Now().Format(time.RFC3339Nano)
	wantApplied(t, h.push(gA1, create(fieldsync.CollPatrolRounds, r1, "site_id", A, "route_id", newID(), "started_at", now))[0])
	wantApplied(t, h.push(gA2, create(fieldsync.CollPatrolRounds, r2, "site_id", A, "route_id", newID(), "started_at", now))[0])
	add(fieldsync.CollPatrolRounds, r1, "gA1", "csA")
	add(fieldsync.CollPatrolRounds, r2, "gA2", "csA")
	c1, c2, c3 := newID(), newID(), newID()
	complaint := func(id, site string) fieldsync.Mutation {
		return create(cp, id, "site_id", site, "channel", "on_site", "content", "noise", "owner_phone", "13812345678")
	}
	wantApplied(t, h.push(gA1, complaint(c1, A))[0])
	wantApplied(t, h.push(csA, complaint(c2, A))[0])
	wantApplied(t, h.push(supB, complaint(c3, B))[0])
	add(cp, c1, "gA1", "csA")
	add(cp, c2, "csA")
	add(cp, c3, "supB")

	callers := map[string]*fieldsync.Caller{"gA1": gA1, "gA2": gA2, "gB": gB, "tA1": tA1, "tA2": tA2, "csA": csA, "supB": supB}
	for name, c := range callers {
		want := slices.Clone(keys[name])
		slices.Sort(want)
		r := newReplica(c)
		r.sync(t, h.e, 3)
		var got []string
		for k, ch := range r.docs {
			got = append(got, k)
			checkMasked(t, name, c, ch.Doc)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s pulls %v\nwant %v", name, got, want)
		}
		var buf bytes.Buffer
		if err := h.e.Bootstrap(as(c), 0, &buf); err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		sc := bufio.NewScanner(&buf)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ch fieldsync.Change
			if err := json.Unmarshal(sc.Bytes(), &ch); err != nil {
				t.Fatal(err)
			}
			if ch.ID != "" {
				got = append(got, ch.Collection+"/"+ch.ID)
				checkMasked(t, name+" bootstrap", c, ch.Doc)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s bootstraps %v\nwant %v", name, got, want)
		}
	}
	// A push answer with a doc is masked too.
	wantApplied(t, h.push(csA, update(cp, c1, 1, "content", "loud music"))[0])
	res := h.push(gA1, update(cp, c1, 1, "content", "noise at night"))[0]
	if res.Status != fieldsync.StatusConflict {
		t.Fatalf("got %s, want conflict", res.Status)
	}
	checkMasked(t, "push result", gA1, res.Doc)
	if res.Doc["owner_phone"] != "*******5678" {
		t.Fatalf("guard got owner_phone %v", res.Doc["owner_phone"])
	}
	if d := h.docOf(csA, cp, c1); d["owner_phone"] != "13812345678" {
		t.Fatalf("cs got owner_phone %v", d["owner_phone"])
	}
}

// checkMasked fails when a field role holds an owner's full phone number.
func checkMasked(tb testing.TB, who string, c *fieldsync.Caller, doc map[string]any) {
	tb.Helper()
	p, ok := doc["owner_phone"].(string)
	if !ok || fieldsync.SeesOwnerContact(c.Role) {
		return
	}
	if !strings.HasPrefix(p, "****") || strings.Contains(p, "1381234") {
		tb.Fatalf("%s (%s) received owner_phone %q", who, c.Role, p)
	}
}
