package api_test

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/api"
	"fieldsync/field"
	fsync "fieldsync/sync"

	"github.com/google/uuid"
)

// scopePage is one answer of GET /v1/sync/pull.
type scopePage struct {
	Changes []struct {
		Collection string `json:"collection"`
		ID         string `json:"id"`
		Op         string `json:"op"`
	} `json:"changes"`
	Cursor  string `json:"cursor"`
	HasMore bool   `json:"has_more"`
}

// pullAll pulls from cursor until has_more is false; it returns the
// collection/id of the upserts and of the deletes, and the last cursor.
func pullAll(tb testing.TB, srv *api.Server, headers map[string]string, cursor string) (upserts, deletes []string, next string) {
	tb.Helper()
	for range 100 {
		var p scopePage
		mustDo(tb, srv, "GET", "/v1/sync/pull?limit=3&cursor="+url.QueryEscape(cursor), "", headers, 200, &p)
		for _, ch := range p.Changes {
			if ch.Op == "delete" {
				deletes = append(deletes, ch.Collection+"/"+ch.ID)
			} else {
				upserts = append(upserts, ch.Collection+"/"+ch.ID)
			}
		}
		cursor = p.Cursor
		if !p.HasMore {
			slices.Sort(upserts)
			slices.Sort(deletes)
			return slices.Compact(upserts), slices.Compact(deletes), cursor
		}
	}
	tb.Fatal("pull never ended")
	return nil, nil, ""
}

// TestSiteRemovalDeletesOnlyWhatTheGuardCouldHold: guard.a1, removed from site
// A through the admin API, gets on their next pulls a delete for every record
// of A they could read — their own inspections, rounds and complaints, the
// site's inspections of the last 7 days, its reference data — and for nothing
// else: not the other guards' rounds, the desk's complaints and orders, an
// inspection older than their window. Those were 19 leaked ids of records
// the guard could never read.
func TestSiteRemovalDeletesOnlyWhatTheGuardCouldHold(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	users := mustSeedUsers(t, srv)
	var clock atomic.Int64
	clock.Store(time.Now().Add(-10 * 24 * time.Hour).UnixNano())
	e, err := fsync.Open(context.Background(), depsOf(t, srv).Store.Sync(), fsync.Options{Collections: field.Collections(field.Options{}), Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	push := func(who, coll, site string, f map[string]any) string {
		t.Helper()
		u := users[who]
		c := &fieldsync.Caller{UserID: u.ID, TenantID: u.TenantID, DeviceID: "seed-" + who, Role: u.Role, SiteIDs: u.SiteIDs}
		if u.Role == fieldsync.RoleAdmin {
			c.SiteIDs = nil
		}
		id := uuid.NewString()
		if coll == fieldsync.CollSites {
			id = site
		}
		f["site_id"] = site
		raw := map[string]json.RawMessage{}
		for k, v := range f {
			raw[k], _ = json.Marshal(v)
		}
		res, err := e.Push(fieldsync.NewContextWithCaller(context.Background(), c), fieldsync.PushRequest{DeviceID: c.DeviceID,
			Mutations: []fieldsync.Mutation{{MutationID: uuid.NewString(), Collection: coll, Op: fieldsync.OpCreate, ID: id, Fields: raw}}})
		if err != nil || res.Results[0].Status != fieldsync.StatusApplied {
			t.Fatalf("seed %s by %s: %v %+v", coll, who, err, res)
		}
		return coll + "/" + id
	}
	A, B := fieldsync.DemoSiteA, fieldsync.DemoSiteB
	inspection := map[string]any{"category": "sanitation", "description": "x"}
	var couldRead, never []string
	// Ten days ago: the guard's own inspection (theirs for good) and another guard's (out of their window since).
	couldRead = append(couldRead, push("guard.a1", fieldsync.CollInspections, A, clone(inspection)))
	never = append(never, push("guard.a2", fieldsync.CollInspections, A, clone(inspection)))
	clock.Store(time.Now().UnixNano())
	couldRead = append(couldRead,
		push("admin", fieldsync.CollSites, A, map[string]any{"name": "Site A"}),
		push("admin", fieldsync.CollCheckpoints, A, map[string]any{"name": "gate", "code": "QR-A1"}),
		push("guard.a2", fieldsync.CollInspections, A, clone(inspection)),
		push("guard.a1", fieldsync.CollPatrolRounds, A, map[string]any{"route_id": uuid.NewString(), "started_at": time.Now().Format(time.RFC3339)}),
		push("guard.a1", fieldsync.CollComplaints, A, map[string]any{"channel": "on_site", "category": "noise", "content": "x"}),
	)
	never = append(never,
		push("guard.a2", fieldsync.CollPatrolRounds, A, map[string]any{"route_id": uuid.NewString(), "started_at": time.Now().Format(time.RFC3339)}),
		push("cs.a1", fieldsync.CollComplaints, A, map[string]any{"channel": "phone", "category": "noise", "content": "y"}),
		push("cs.a1", fieldsync.CollWorkOrders, A, map[string]any{"title": "leak", "category": "facilities"}),
		push("cs.a1", fieldsync.CollWorkOrders, A, map[string]any{"title": "lift", "category": "facilities"}),
	)
	siteB := push("admin", fieldsync.CollSites, B, map[string]any{"name": "Site B"})
	push("cs.b1", fieldsync.CollComplaints, B, map[string]any{"channel": "phone", "category": "fees", "content": "z"})
	slices.Sort(couldRead)

	g := mustLoginSession(t, srv, "guard.a1", "")
	held, deleted, cursor := pullAll(t, srv, g.Headers(), "")
	if !slices.Equal(held, couldRead) || len(deleted) != 0 {
		t.Errorf("bootstrap: got upserts %v deletes %v (a bootstrapping device holds nothing to delete), want upserts %v", held, deleted, couldRead)
	}

	admin, _ := mustLogin(t, srv, "admin")
	mustDo(t, srv, "PATCH", "/v1/admin/users/"+g.UserID, `{"site_ids":["`+B+`"]}`, bearerHeader(admin), 200, nil)
	upserts, deletes, _ := pullAll(t, srv, g.Headers(), cursor)
	for _, id := range deletes {
		if slices.Contains(never, id) {
			t.Errorf("delete of %s: a record guard.a1 could never read (its id leaked)", id)
		}
	}
	if !slices.Equal(deletes, couldRead) {
		t.Errorf("after removal from site A: got deletes\n%v\nwant exactly what the guard could read there\n%v", deletes, couldRead)
	}
	if !slices.Equal(upserts, []string{siteB}) {
		t.Errorf("after the move to site B: got upserts %v, want %v", upserts, []string{siteB})
	}
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
