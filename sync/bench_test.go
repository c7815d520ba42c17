package sync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/devstack/devtest"
	"fieldsync/field"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"
)

// pushBody500 is a realistic 500-mutation push: creates, updates, actions, deletes.
func pushBody500(b *testing.B) []byte {
	b.Helper()
	var ms []fieldsync.Mutation
	for i := range 500 {
		id := newID()
		switch i % 4 {
		case 0:
			ms = append(ms, createInspection(id, "s1", "description", "broken tap on floor 3", "severity", "high",
				"gps", map[string]any{"lat": 22.3, "lng": 114.1, "accuracy": 5}, "observed_at", time.Now().UTC().Format(time.RFC3339Nano)))
		case 1:
			ms = append(ms, update(fieldsync.CollInspections, id, 3, "description", "fixed", "photo_ids", []string{newID(), newID()}))
		case 2:
			ms = append(ms, action(fieldsync.CollInspections, id, 2, "raise_work_order", "work_order_id", newID(), "title", "leak"))
		case 3:
			ms = append(ms, del(fieldsync.CollInspections, id, 4))
		}
	}
	return raw(fieldsync.PushRequest{DeviceID: "d-guard1", Mutations: ms})
}

// BenchmarkPush500Decode decodes a 500-mutation push body.
func BenchmarkPush500Decode(b *testing.B) {
	body := pushBody500(b)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var req fieldsync.PushRequest
		if err := json.Unmarshal(body, &req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPush500Validate decodes and validates a 500-mutation push against
// the production collections (no database work).
func BenchmarkPush500Validate(b *testing.B) {
	e, err := fsync.Open(context.Background(), devtest.MustOpenStore(b).Sync(), fsync.Options{Collections: field.Collections(field.Options{})})
	if err != nil {
		b.Fatal(err)
	}
	body := pushBody500(b)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var req fieldsync.PushRequest
		if err := json.Unmarshal(body, &req); err != nil {
			b.Fatal(err)
		}
		ok := 0
		for i := range req.Mutations {
			if e.Validate(tenant, &req.Mutations[i]) == nil {
				ok++
			}
		}
		if ok != len(req.Mutations) {
			b.Fatalf("%d of %d mutations valid", ok, len(req.Mutations))
		}
	}
}

var benchCursor = fsync.Cursor{Tenant: "acme", User: "00000000-0000-4000-8000-000000000001", Pos: 123456, Own: 123460,
	Role: fieldsync.RoleTechnician, Sites: []string{"s1", "s2", "s3"}, Issued: 1764200000}

func BenchmarkCursorEncode(b *testing.B) {
	for b.Loop() {
		_ = fsync.EncodeCursor(fuzzKey, benchCursor)
	}
}

func BenchmarkCursorDecode(b *testing.B) {
	s := fsync.EncodeCursor(fuzzKey, benchCursor)
	for b.Loop() {
		if _, err := fsync.DecodeCursor(fuzzKey, s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCanRead1000 filters 1000 records of mixed collections and sites
// for each role.
func BenchmarkCanRead1000(b *testing.B) {
	now := time.Now()
	colls := []string{fieldsync.CollInspections, fieldsync.CollWorkOrders, fieldsync.CollComplaints, fieldsync.CollSites, fieldsync.CollPatrolRounds}
	refs := make([]fieldsync.RecordRef, 1000)
	for i := range refs {
		refs[i] = fieldsync.RecordRef{Collection: colls[i%len(colls)], ID: newID(), TenantID: tenant, SiteID: fmt.Sprintf("s%d", i%3),
			CreatedBy: fmt.Sprintf("u%d", i%7), CreatedAt: now.Add(-time.Duration(i) * time.Minute), AssigneeIDs: []string{tech1.UserID, tech2.UserID}}
	}
	for _, c := range []*fieldsync.Caller{guard1, tech1, agent1, admin} {
		b.Run(string(c.Role), func(b *testing.B) {
			for b.Loop() {
				n := 0
				for _, r := range refs {
					if fieldsync.CanRead(c, r, now) {
						n++
					}
				}
				if n == 0 && c.Role != fieldsync.RoleGuard {
					b.Fatal("nothing readable")
				}
			}
		})
	}
}

// benchRecords is a harness holding 5,000 inspections.
func benchRecords(b *testing.B) *harness {
	h := newHarness(b, fsync.Options{})
	for range 10 {
		var ms []fieldsync.Mutation
		for range 500 {
			ms = append(ms, createInspection(newID(), "s1", "description", "broken tap on floor 3, water on the stairs down to the lobby"))
		}
		h.push(guard1, ms...)
	}
	return h
}

// BenchmarkPagedBootstrap pulls 5,000 records in pages of 500 through the
// embedded database, each page decoded as a phone would before it asks for
// the next.
func BenchmarkPagedBootstrap(b *testing.B) {
	h := benchRecords(b)
	for b.Loop() {
		cursor := ""
		for {
			p, err := h.e.Pull(as(agent1), fieldsync.PullRequest{Cursor: cursor, Limit: 500})
			if err != nil {
				b.Fatal(err)
			}
			var back fieldsync.PullResult
			if err := json.Unmarshal(raw(p), &back); err != nil {
				b.Fatal(err)
			}
			if cursor = p.Cursor; !p.HasMore {
				break
			}
		}
	}
	b.ReportMetric(float64(5000*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkBootstrapStream streams 5,000 records through the embedded
// database (records/s is b.N × 5,000 / the time).
func BenchmarkBootstrapStream(b *testing.B) {
	h := benchRecords(b)
	for b.Loop() {
		if err := h.e.Bootstrap(as(agent1), 0, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(5000*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkUpdateAmong5000 pushes one update of an inspection beside 5,000
// others, its record loaded by an $in query or by _id (mongodb.Tuning.PointLoads).
func BenchmarkUpdateAmong5000(b *testing.B) {
	for _, point := range []bool{false, true} {
		b.Run(fmt.Sprintf("PointLoads=%v", point), func(b *testing.B) {
			h := newTunedHarness(b, mongodb.Tuning{PointLoads: point}, fsync.Options{})
			for range 10 {
				h.push(guard1, inspections(500, "s1")...)
			}
			id := newID()
			h.push(guard1, createInspection(id, "s1"))
			v := int64(1)
			for b.Loop() {
				res := h.push(guard1, update(fieldsync.CollInspections, id, v, "description", fmt.Sprint(v)))
				if res[0].Status != fieldsync.StatusApplied {
					b.Fatalf("%+v", res[0])
				}
				v = res[0].Version
			}
		})
	}
}
