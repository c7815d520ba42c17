package api_test

import (
	"context"
	"strings"
	"testing"

	"fieldsync"
	"fieldsync/api"
	"fieldsync/field"
	fsync "fieldsync/sync"

	"github.com/google/uuid"
)

const unitsCSV = "\uFEFFsite_id,building,unit_number,floor,area_m2,status,owner_name,owner_phone,resident_name,resident_phone,move_in_date,household_notes\n" +
	fieldsync.DemoSiteA + ",3号楼,1201,12,89.5,occupied,王芳,13800001111,李强,13900002222,2021-05-01,养狗\n" +
	fieldsync.DemoSiteA + ",3号楼,1202,12,120,vacant,,,,,,\n" +
	fieldsync.DemoSiteA + ",5号楼,0101,1,60,renovating,赵敏,13700003333,,,,\n"

func importCSV(tb testing.TB, srv *api.Server, s session, body string, want int, out any) []byte {
	tb.Helper()
	h := s.Headers()
	h["Content-Type"] = "text/csv; charset=utf-8"
	return mustDo(tb, srv, "POST", "/v1/admin/import/units", body, h, want, out)
}

func countRecords(tb testing.TB, srv *api.Server, coll string) int {
	tb.Helper()
	n := 0
	if err := depsOf(tb, srv).Engine.Records(context.Background(), fieldsync.DemoTenant, coll, func(*fsync.Record) error { n++; return nil }); err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestImportUnitsAllOrNothing: a CSV with bad rows imports nothing and names
// each bad line; the good file imports units and households, and importing
// it again updates them (no duplicates). Only admins import.
func TestImportUnitsAllOrNothing(t *testing.T) {
	srv := newFullServer(t)
	admin := mustLoginSession(t, srv, "admin", "")
	bad := strings.Replace(unitsCSV, ",12,120,", ",twelve,120,", 1)
	bad = strings.Replace(bad, "renovating", "demolished", 1)
	bad = strings.Replace(bad, "2021-05-01", "2021/05/01", 1)
	var p struct {
		Code   string
		Field  string
		Errors []struct{ Field, Detail string }
	}
	importCSV(t, srv, admin, bad, 400, &p)
	var fields []string
	for _, e := range p.Errors {
		fields = append(fields, e.Field)
	}
	if p.Code != "invalid_input" || strings.Join(fields, " ") != "line 2.move_in_date line 3.floor line 4.status" {
		t.Fatalf("bad rows: got %+v, want lines 2, 3 and 4 named", p)
	}
	if n := countRecords(t, srv, fieldsync.CollUnits) + countRecords(t, srv, fieldsync.CollHouseholds); n != 0 {
		t.Fatalf("after a refused import: %d records, want none", n)
	}
	dup := unitsCSV + fieldsync.DemoSiteA + ",3号楼,1201,12,89.5,occupied,,,,,,\n"
	importCSV(t, srv, admin, dup, 400, &p)
	if p.Field != "line 5.unit_number" {
		t.Fatalf("a unit twice: got %+v", p)
	}
	mustDo(t, srv, "POST", "/v1/admin/import/units", unitsCSV, map[string]string{"Authorization": admin.Headers()["Authorization"],
		"Content-Type": "application/json"}, 400, nil)
	importCSV(t, srv, mustLoginSession(t, srv, "cs.a1", ""), unitsCSV, 403, nil)

	var res fieldsync.ImportResult
	importCSV(t, srv, admin, unitsCSV, 200, &res)
	if res != (fieldsync.ImportResult{Rows: 3, UnitsCreated: 3, HouseholdsCreated: 2}) {
		t.Fatalf("import: got %+v", res)
	}
	importCSV(t, srv, admin, unitsCSV, 200, &res)
	if res != (fieldsync.ImportResult{Rows: 3, UnitsUpdated: 3, HouseholdsUpdated: 2}) {
		t.Fatalf("import again: got %+v", res)
	}
	if u, h := countRecords(t, srv, fieldsync.CollUnits), countRecords(t, srv, fieldsync.CollHouseholds); u != 3 || h != 2 {
		t.Fatalf("after two imports: %d units, %d households, want 3 and 2", u, h)
	}
}

// pullScope pulls s's whole scope and returns the docs by collection/id.
func pullScope(tb testing.TB, srv *api.Server, s session) map[string]map[string]any {
	tb.Helper()
	out := map[string]map[string]any{}
	cursor := ""
	for {
		var page struct {
			Changes []struct {
				Collection, ID, Op string
				Doc                map[string]any
			}
			Cursor  string
			HasMore bool `json:"has_more"`
		}
		mustDo(tb, srv, "GET", "/v1/sync/pull?limit=1000&cursor="+cursor, "", s.Headers(), 200, &page)
		for _, c := range page.Changes {
			out[c.Collection+"/"+c.ID] = c.Doc
		}
		cursor = page.Cursor
		if !page.HasMore {
			return out
		}
	}
}

// TestUnitsAndHouseholds: units and households sync to everyone at the site
// with phones masked for guards and technicians, whole for the desk; only
// admins write them; a unit's history — its complaints, orders and
// inspections, newest first — is read by the desk of its site.
func TestUnitsAndHouseholds(t *testing.T) {
	srv := newFullServer(t)
	admin := mustLoginSession(t, srv, "admin", "")
	var res fieldsync.ImportResult
	importCSV(t, srv, admin, unitsCSV, 200, &res)
	unit := field.UnitID(fieldsync.DemoTenant, fieldsync.DemoSiteA, "3号楼", "1201")
	hh := field.HouseholdID(unit)

	for who, want := range map[string]string{"cs.a1": "13800001111", "super.a1": "13800001111",
		"guard.a1": fieldsync.MaskPhone("13800001111"), "tech.a1": fieldsync.MaskPhone("13800001111")} {
		docs := pullScope(t, srv, mustLoginSession(t, srv, who, ""))
		h := docs[fieldsync.CollHouseholds+"/"+hh]
		if h == nil || h["owner_phone"] != want || h["owner_name"] != "王芳" {
			t.Fatalf("%s pulls the household: got %v, want owner_phone %s", who, h, want)
		}
		if want != "13800001111" && h["resident_phone"] != fieldsync.MaskPhone("13900002222") {
			t.Fatalf("%s: resident_phone %v, want masked", who, h["resident_phone"])
		}
		if u := docs[fieldsync.CollUnits+"/"+unit]; u == nil || u["status"] != "occupied" || u["floor"] != float64(12) {
			t.Fatalf("%s pulls the unit: got %v", who, u)
		}
	}
	if docs := pullScope(t, srv, mustLoginSession(t, srv, "cs.b1", "")); docs[fieldsync.CollUnits+"/"+unit] != nil {
		t.Fatal("site B's desk received a unit of site A")
	}
	// Only admins write them; a technician cannot write back the masked phone.
	for _, who := range []string{"tech.a1", "cs.a1"} {
		wfRejected(t, srv, mustLoginSession(t, srv, who, ""), "forbidden", "", update(fieldsync.CollHouseholds, hh, 1,
			map[string]any{"owner_phone": fieldsync.MaskPhone("13800001111")}))
	}
	wfOne(t, srv, admin, fieldsync.StatusApplied, update(fieldsync.CollUnits, unit, 1, map[string]any{"notes": "水表在门外"}))

	// The unit's history.
	cs := mustLoginSession(t, srv, "cs.a1", "")
	c := wfOne(t, srv, cs, fieldsync.StatusApplied, create(cp, uuid.NewString(), map[string]any{"site_id": fieldsync.DemoSiteA,
		"channel": "phone", "content": "楼上漏水", "unit_id": unit}))
	o, _ := wfOrder(t, srv, cs, map[string]any{"unit_id": unit})
	guard := mustLoginSession(t, srv, "guard.a1", "")
	i := wfOne(t, srv, guard, fieldsync.StatusApplied, create(in, uuid.NewString(), map[string]any{"site_id": fieldsync.DemoSiteA,
		"category": "facilities", "description": "门口灯坏", "unit_id": unit}))
	wfOrder(t, srv, cs, map[string]any{"unit_id": field.UnitID(fieldsync.DemoTenant, fieldsync.DemoSiteA, "3号楼", "1202")})
	var h fieldsync.UnitHistory
	mustDo(t, srv, "GET", "/v1/units/"+unit+"/history", "", cs.Headers(), 200, &h)
	var got []string
	for _, it := range h.Items {
		got = append(got, it.Collection+"/"+it.ID)
	}
	want := []string{in + "/" + i.ID, wo + "/" + o, cp + "/" + c.ID}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("history: got %v, want newest first %v", got, want)
	}
	if h.Unit["unit_number"] != "1201" || len(h.Households) != 1 || h.Households[0]["owner_phone"] != "13800001111" {
		t.Fatalf("history's unit and households: got %v %v", h.Unit, h.Households)
	}
	for _, who := range []string{"guard.a1", "tech.a1", "cs.b1", "other/admin"} {
		mustDo(t, srv, "GET", "/v1/units/"+unit+"/history", "", mustLoginSession(t, srv, who, "").Headers(), 404, nil)
	}
	mustDo(t, srv, "GET", "/v1/units/"+uuid.NewString()+"/history", "", cs.Headers(), 404, nil)
}
