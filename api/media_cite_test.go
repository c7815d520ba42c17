package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"fieldsync"
	"fieldsync/api"
	"fieldsync/field"
	fsync "fieldsync/sync"

	"github.com/google/uuid"
)

// pushResult is one result of a push answer.
type pushResult struct {
	Status string `json:"status"`
	Error  *struct {
		Code  string `json:"code"`
		Field string `json:"field"`
	} `json:"error"`
}

// mustPush pushes raw mutations (JSON objects without mutation_id, which it adds) and returns the results.
func mustPush(tb testing.TB, srv *api.Server, s session, mutations ...string) []pushResult {
	tb.Helper()
	ms := make([]string, len(mutations))
	for i, m := range mutations {
		ms[i] = fmt.Sprintf(`{"mutation_id":%q,%s`, uuid.NewString(), strings.TrimPrefix(m, "{"))
	}
	body := fmt.Sprintf(`{"device_id":%q,"mutations":[%s]}`, s.DeviceID, strings.Join(ms, ","))
	var res struct {
		Results []pushResult `json:"results"`
	}
	mustDo(tb, srv, "POST", "/v1/sync/push", body, s.Headers(), 200, &res)
	if len(res.Results) != len(mutations) {
		tb.Fatalf("push: got %d results for %d mutations", len(res.Results), len(mutations))
	}
	return res.Results
}

func mustApplied(tb testing.TB, what string, r pushResult) {
	tb.Helper()
	if r.Status != fieldsync.StatusApplied {
		tb.Fatalf("%s: got %+v (error %+v), want applied", what, r, r.Error)
	}
}

// mustStorePhoto announces a JPEG and uploads it through the API; it returns the stored media id.
func mustStorePhoto(tb testing.TB, srv *api.Server, s session) string {
	tb.Helper()
	photo := testJPEG(tb, 40, 30)
	id := uuid.NewString()
	mustDo(tb, srv, "POST", "/v1/media", createJSON(id, "image/jpeg", photo), s.Headers(), 201, nil)
	h := s.Headers()
	h["Content-Type"] = "image/jpeg"
	if resp, b := rawRequest(tb, srv, "PUT", "/v1/media/"+id+"/content", photo, h); resp.StatusCode != 200 {
		tb.Fatalf("upload: got %d %s", resp.StatusCode, b)
	}
	return id
}

func idsJSON(ids ...string) string { b, _ := json.Marshal(ids); return string(b) }

// TestCitingAPhotoNeedsTheRightToIt: a record the caller made does not open
// another site's photo to them. guard.b1 citing guard.a1's photo of site A
// from an inspection of site B is refused (forbidden, naming the field), and
// a record of site B citing it that got in anyway (made before the rule) lets
// nobody read it or see it in the missing-evidence list of site B.
func TestCitingAPhotoNeedsTheRightToIt(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	d := depsOf(t, srv)
	users := mustSeedUsers(t, srv)
	guardA := mustLoginSession(t, srv, "guard.a1", "")
	guardB := mustLoginSession(t, srv, "guard.b1", "")
	csB := mustLoginSession(t, srv, "cs.b1", "")

	photo := mustStorePhoto(t, srv, guardA)
	pushInspection(t, srv, guardA, photo)
	scenario{method: "GET", url: "/v1/media/" + photo, headers: guardB.Headers(), status: 404}.run(t, srv)

	// The attack of issue #15: cite it from one's own record, then read it.
	res := mustPush(t, srv, guardB, fmt.Sprintf(`{"collection":"inspections","op":"create","id":%q,"fields":{"site_id":%q,"category":"other","photo_ids":%s}}`,
		uuid.NewString(), fieldsync.DemoSiteB, idsJSON(photo)))
	if r := res[0]; r.Status != fieldsync.StatusRejected || r.Error == nil || r.Error.Code != fieldsync.EForbidden || r.Error.Field != "fields.photo_ids" {
		t.Fatalf("citing another site's photo: got %+v (error %+v), want rejected forbidden fields.photo_ids", r, r.Error)
	}
	scenario{method: "GET", url: "/v1/media/" + photo, headers: guardB.Headers(), status: 404}.run(t, srv)

	// Records of site B citing site A's media written past the push check
	// (as before the rule existed): they grant nothing.
	pending := uuid.NewString() // announced by guard.a1, not uploaded yet
	mustDo(t, srv, "POST", "/v1/media", createJSON(pending, "image/jpeg", testJPEG(t, 8, 8)), guardA.Headers(), 201, nil)
	err := d.Engine.Apply(context.Background(), fieldsync.DemoTenant, []fsync.Write{{Collection: fieldsync.CollInspections,
		ID: uuid.NewString(), Create: true, SiteID: fieldsync.DemoSiteB, CreatedBy: users["guard.b1"].ID,
		Set: map[string]any{"category": "other", "photo_ids": []any{photo, pending}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []session{guardB, csB} {
		scenario{method: "GET", url: "/v1/media/" + photo, headers: s.Headers(), status: 404}.run(t, srv)
		scenario{method: "GET", url: "/v1/media/" + pending, headers: s.Headers(), status: 404}.run(t, srv)
	}
	scenario{method: "GET", url: "/v1/media?status=pending&site_id=" + fieldsync.DemoSiteB, headers: csB.Headers(), status: 200,
		absent: []string{pending, photo}}.run(t, srv)
	// Site A still sees its evidence.
	scenario{method: "GET", url: "/v1/media/" + photo, headers: mustLoginSession(t, srv, "cs.a1", "").Headers(), status: 200}.run(t, srv)
}

// TestEveryCitingFieldChecksTheRightToCite covers every field and action
// argument of kind Media or MediaList of every collection: citing another
// site's photo is rejected (forbidden, naming the field) while the rest of
// the batch goes on; citing one's own photo, or an id not announced yet
// (phones push records before their photos), is applied; so is a photo of
// the record's site that the caller may read.
func TestEveryCitingFieldChecksTheRightToCite(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	users := mustSeedUsers(t, srv)
	guardA := mustLoginSession(t, srv, "guard.a1", "")
	guardB := mustLoginSession(t, srv, "guard.b1", "")
	csA := mustLoginSession(t, srv, "cs.a1", "")
	csB := mustLoginSession(t, srv, "cs.b1", "")
	techB := mustLoginSession(t, srv, "tech.b1", "")

	foreign := mustStorePhoto(t, srv, guardA) // site A, cited by guard.a1's inspection: cs.a1 may read it
	pushInspection(t, srv, guardA, foreign)

	// create builds a create mutation of coll at site with fields plus field=ids.
	create := func(coll, site, fields, field string, ids ...string) string {
		return fmt.Sprintf(`{"collection":%q,"op":"create","id":%q,"fields":{"site_id":%q,%s,%q:%s}}`,
			coll, uuid.NewString(), site, fields, field, idsJSON(ids...))
	}
	// record creates a record as s and returns its id.
	record := func(s session, coll, site, fields string) string {
		id := uuid.NewString()
		mustApplied(t, "create "+coll, mustPush(t, srv, s, fmt.Sprintf(`{"collection":%q,"op":"create","id":%q,"fields":{"site_id":%q,%s}}`,
			coll, id, site, fields))[0])
		return id
	}
	update := func(coll, id, field string, ids ...string) string {
		return fmt.Sprintf(`{"collection":%q,"op":"update","id":%q,"base_version":1,"fields":{%q:%s}}`, coll, id, field, idsJSON(ids...))
	}
	const (
		inspection = `"category":"other"`
		complaint  = `"channel":"phone","content":"noise at night"`
		order      = `"title":"leaking pipe"`
	)
	// startedOrder creates an order of site B assigned to tech.b1 and started; it returns the id and version.
	startedOrder := func() (string, int) {
		id := record(csB, "work_orders", fieldsync.DemoSiteB, order)
		mustApplied(t, "assign", mustPush(t, srv, csB, fmt.Sprintf(`{"collection":"work_orders","op":"action","id":%q,"base_version":1,"action":"assign","args":{"assignee_id":%q}}`,
			id, users["tech.b1"].ID))[0])
		mustApplied(t, "accept", mustPush(t, srv, techB, fmt.Sprintf(`{"collection":"work_orders","op":"action","id":%q,"base_version":2,"action":"accept"}`, id))[0])
		mustApplied(t, "start", mustPush(t, srv, techB, fmt.Sprintf(`{"collection":"work_orders","op":"action","id":%q,"base_version":3,"action":"start"}`, id))[0])
		return id, 4
	}
	complete := func(id string, v int, arg string, ids ...string) string {
		val := idsJSON(ids...)
		if arg == "signature_media_id" {
			val = fmt.Sprintf("%q", ids[len(ids)-1]) // the last: the one under test
		}
		return fmt.Sprintf(`{"collection":"work_orders","op":"action","id":%q,"base_version":%d,"action":"complete","args":{"resolution":"fixed",%q:%s}}`,
			id, v, arg, val)
	}

	type citeCase struct {
		covers string // collection.field or collection.action.arg
		who    session
		field  string // named in the rejection
		// batch returns the mutation citing ids.
		batch func(ids ...string) string
	}
	cases := []citeCase{
		{"inspections.photo_ids", guardB, "fields.photo_ids", func(ids ...string) string {
			return create("inspections", fieldsync.DemoSiteB, inspection, "photo_ids", ids...)
		}},
		{"inspections.photo_ids (update)", guardB, "fields.photo_ids", func(ids ...string) string {
			return update("inspections", record(guardB, "inspections", fieldsync.DemoSiteB, inspection), "photo_ids", ids...)
		}},
		{"complaints.photo_ids", guardB, "fields.photo_ids", func(ids ...string) string {
			return create("complaints", fieldsync.DemoSiteB, complaint, "photo_ids", ids...)
		}},
		{"complaints.photo_ids (update)", guardB, "fields.photo_ids", func(ids ...string) string {
			return update("complaints", record(guardB, "complaints", fieldsync.DemoSiteB, complaint), "photo_ids", ids...)
		}},
		{"work_orders.before_photo_ids", csB, "fields.before_photo_ids", func(ids ...string) string {
			return create("work_orders", fieldsync.DemoSiteB, order, "before_photo_ids", ids...)
		}},
		{"work_orders.after_photo_ids", csB, "fields.after_photo_ids", func(ids ...string) string {
			return create("work_orders", fieldsync.DemoSiteB, order, "after_photo_ids", ids...)
		}},
		{"work_orders.before_photo_ids (update)", csB, "fields.before_photo_ids", func(ids ...string) string {
			return update("work_orders", record(csB, "work_orders", fieldsync.DemoSiteB, order), "before_photo_ids", ids...)
		}},
		// After-photos are the assignee's to add (the desk may not: TestFieldWriteMatrix).
		{"work_orders.after_photo_ids (update)", techB, "fields.after_photo_ids", func(ids ...string) string {
			id, v := startedOrder()
			return fmt.Sprintf(`{"collection":"work_orders","op":"update","id":%q,"base_version":%d,"fields":{"after_photo_ids":%s}}`, id, v, idsJSON(ids...))
		}},
		{"work_orders.complete.after_photo_ids", techB, "args.after_photo_ids", func(ids ...string) string {
			id, v := startedOrder()
			return complete(id, v, "after_photo_ids", ids...)
		}},
		{"work_orders.complete.signature_media_id", techB, "args.signature_media_id", func(ids ...string) string {
			id, v := startedOrder()
			return complete(id, v, "signature_media_id", ids...)
		}},
		// signature_media_id is set only by the complete action (fields of
		// the server are refused in pushes as unknown to clients).
		{"work_orders.signature_media_id", techB, "args.signature_media_id", func(ids ...string) string {
			id, v := startedOrder()
			return complete(id, v, "signature_media_id", ids...)
		}},
	}

	covered := map[string]bool{}
	for _, c := range cases {
		covered[strings.TrimSuffix(c.covers, " (update)")] = true
	}
	for _, coll := range field.Collections(field.Options{}) {
		for _, f := range coll.Fields {
			if f.Kind == fsync.Media || f.Kind == fsync.MediaList {
				if name := coll.Name + "." + f.Name; !covered[name] {
					t.Errorf("media field %s is not covered by a case", name)
				}
			}
		}
		for _, a := range coll.Actions {
			for _, f := range a.Args {
				if f.Kind == fsync.Media || f.Kind == fsync.MediaList {
					if name := coll.Name + "." + a.Name + "." + f.Name; !covered[name] {
						t.Errorf("media argument %s is not covered by a case", name)
					}
				}
			}
		}
	}

	for _, c := range cases {
		t.Run(c.covers, func(t *testing.T) {
			// Another site's photo, even mixed with an id not announced yet: refused.
			// The next mutation of the batch (a create) goes on.
			other := fmt.Sprintf(`{"collection":"complaints","op":"create","id":%q,"fields":{"site_id":%q,%s}}`,
				uuid.NewString(), fieldsync.DemoSiteB, complaint)
			res := mustPush(t, srv, c.who, c.batch(uuid.NewString(), foreign), other)
			if r := res[0]; r.Status != fieldsync.StatusRejected || r.Error == nil || r.Error.Code != fieldsync.EForbidden || r.Error.Field != c.field {
				t.Fatalf("citing another site's photo: got %+v (error %+v), want rejected forbidden %s", r, r.Error, c.field)
			}
			mustApplied(t, "the rest of the batch", res[1])
			// One's own photo, and ids not announced yet: applied.
			own := mustStorePhoto(t, srv, c.who)
			mustApplied(t, "citing one's own photo", mustPush(t, srv, c.who, c.batch(own))[0])
			mustApplied(t, "citing an id not announced yet", mustPush(t, srv, c.who, c.batch(uuid.NewString()))[0])
		})
	}

	// Evidence of the record's own site the caller may read may be cited.
	mustApplied(t, "cs.a1 citing a readable photo of site A", mustPush(t, srv, csA,
		create("work_orders", fieldsync.DemoSiteA, order, "before_photo_ids", foreign))[0])
}
