package api_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/devstack/devtest"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestRecordsReadableInTheDatabase: records written through the public API
// are, read straight from the database with the driver, documents a person
// can query: one collection per synced collection named after it, each field
// under its own name with its BSON type (times as dates, GPS as a GeoJSON
// point), the sync bookkeeping under _sync — and a phone's time with its
// offset still comes back on a pull exactly as the phone sent it. On the
// embedded store, and on MongoDB with FIELDSYNC_TEST_MONGO_URI.
func TestRecordsReadableInTheDatabase(t *testing.T) {
	clock := devtest.NewClock()
	srv := newFullServerWith(t, func(c *fullConfig) { c.Sync.Now = clock.Now })
	users := mustSeedUsers(t, srv)
	guard := mustLoginSession(t, srv, "guard.a1", "")
	cs := mustLoginSession(t, srv, "cs.a1", "")
	ctx := context.Background()
	db := depsOf(t, srv).Store.DB

	observed := clock.Now().Add(-2 * time.Hour).In(time.FixedZone("", 8*3600)).Format("2006-01-02T15:04:05.000Z07:00")
	ins := uuid.NewString()
	wfOne(t, srv, guard, fieldsync.StatusApplied, create(in, ins, map[string]any{"site_id": fieldsync.DemoSiteA,
		"category": "fire_safety", "severity": "high", "description": "消防通道被占用", "observed_at": observed,
		"gps": map[string]any{"lat": 31.2304, "lng": 121.4737, "accuracy": 8}}))
	order, r := wfOrder(t, srv, cs, nil)
	wfOne(t, srv, cs, fieldsync.StatusApplied, action(wo, order, r.Version, "assign", map[string]any{"assignee_id": users["tech.a1"].ID}))

	var doc bson.M
	if err := db.Collection("inspections").FindOne(ctx, bson.M{"id": ins}).Decode(&doc); err != nil {
		t.Fatalf("the inspection by its id in collection inspections: %v", err)
	}
	want := map[string]any{"id": ins, "tenant_id": fieldsync.DemoTenant, "site_id": fieldsync.DemoSiteA,
		"category": "fire_safety", "severity": "high", "description": "消防通道被占用", "created_by": users["guard.a1"].ID}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s: got %#v, want %#v", k, doc[k], v)
		}
	}
	obs, _ := time.Parse(time.RFC3339Nano, observed)
	if d, ok := doc["observed_at"].(bson.DateTime); !ok || !d.Time().Equal(obs) {
		t.Errorf("observed_at: got %#v, want the date %s", doc["observed_at"], obs)
	}
	for _, k := range []string{"created_at", "updated_at"} {
		if _, ok := doc[k].(bson.DateTime); !ok {
			t.Errorf("%s: got %#v, want a date", k, doc[k])
		}
	}
	gps := asM(doc["gps"])
	if c, _ := gps["coordinates"].(bson.A); gps["type"] != "Point" || len(c) != 2 || c[0] != 121.4737 || c[1] != 31.2304 {
		t.Errorf("gps: got %#v, want a GeoJSON point [lng, lat]", doc["gps"])
	}
	s := asM(doc["_sync"])
	if s["version"] != int64(1) || s["deleted"] != false {
		t.Errorf("_sync: got %#v, want version 1, not deleted", s)
	}
	if p, ok := s["position"].(int64); !ok || p < 1 {
		t.Errorf("_sync.position: got %#v", s["position"])
	}
	for _, k := range []string{"t", "c", "s", "v", "p", "del", "b", "f"} {
		if _, ok := doc[k]; ok {
			t.Errorf("the document still has the packed layout's %q: %v", k, doc)
		}
	}
	// A query a back office would write, by field name and type.
	n, err := db.Collection("inspections").CountDocuments(ctx, bson.M{"tenant_id": fieldsync.DemoTenant,
		"severity": "high", "observed_at": bson.M{"$lt": clock.Now()}, "_sync.deleted": false})
	if err != nil || n != 1 {
		t.Errorf("count of high-severity inspections observed before now: got %d (%v), want 1", n, err)
	}

	var wdoc bson.M
	if err := db.Collection("work_orders").FindOne(ctx, bson.M{"id": order}).Decode(&wdoc); err != nil {
		t.Fatalf("the work order in collection work_orders: %v", err)
	}
	if wdoc["status"] != "assigned" || wdoc["assignee_id"] != users["tech.a1"].ID || wdoc["priority"] != "urgent" {
		t.Errorf("work order: got %v", wdoc)
	}
	if _, ok := wdoc["resolve_by"].(bson.DateTime); !ok {
		t.Errorf("resolve_by: got %#v, want a date", wdoc["resolve_by"])
	}
	tl, _ := wdoc["timeline"].(bson.A)
	if len(tl) == 0 {
		t.Fatalf("timeline: got %#v", wdoc["timeline"])
	}
	if e := asM(tl[0]); e == nil {
		t.Errorf("timeline[0]: got %#v", tl[0])
	} else if _, ok := e["at"].(bson.DateTime); !ok {
		t.Errorf("timeline[0].at: got %#v, want a date", e["at"])
	}

	// The phone's text comes back as sent, offset and digits.
	var page struct {
		Changes []struct {
			ID  string         `json:"id"`
			Doc map[string]any `json:"doc"`
		} `json:"changes"`
	}
	mustDo(t, srv, "GET", "/v1/sync/pull?limit=500&cursor="+url.QueryEscape(""), "", guard.Headers(), 200, &page)
	found := false
	for _, ch := range page.Changes {
		if ch.ID != ins {
			continue
		}
		found = true
		if ch.Doc["observed_at"] != observed {
			t.Errorf("pulled observed_at: got %v, want %s as sent", ch.Doc["observed_at"], observed)
		}
		g, _ := ch.Doc["gps"].(map[string]any)
		if g["lat"] != 31.2304 || g["lng"] != 121.4737 || g["accuracy"] != float64(8) {
			t.Errorf("pulled gps: got %v", ch.Doc["gps"])
		}
	}
	if !found {
		t.Fatalf("the inspection was not pulled: %+v", page)
	}
}

// asM is a subdocument as a map (the driver decodes those as bson.D).
func asM(v any) bson.M {
	switch x := v.(type) {
	case bson.M:
		return x
	case bson.D:
		m := bson.M{}
		for _, e := range x {
			m[e.Key] = e.Value
		}
		return m
	}
	return nil
}
