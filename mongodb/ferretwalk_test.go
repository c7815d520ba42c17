package mongodb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/devstack/devtest"
	"fieldsync/field"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// texts are strings a phone may send: Chinese, emoji, quotes, escapes,
// control characters, what encoding/json escapes (<>&, U+2028), empty.
var texts = []string{"维修：三号楼电梯异响，业主投诉两次", "🚧 leak \"B\" \\ back", "tab\there\nline\r\x01\x1f",
	"<a href='x'>&amp;</a>\u2028\u2029", "", "plain ascii", "é café naïve Ωμέγα ﷽"}

// valueOf is a value of field f for the i-th record (i varies it).
func valueOf(f fsync.Field, i int) any {
	t := texts[i%len(texts)]
	switch f.Kind {
	case fsync.String:
		return t
	case fsync.Enum:
		return f.Values[i%len(f.Values)]
	case fsync.Int:
		return []any{int64(i), int64(-7), int64(1<<53 + 1), int64(0)}[i%4]
	case fsync.Number:
		return []any{3.25, -0.5, 1e-7, 12345678.9, 3.0, float64(i), math.MaxFloat64, math.SmallestNonzeroFloat64}[i%8]
	case fsync.Bool:
		return i%2 == 0
	case fsync.Time:
		// A UTC millisecond time is kept as its date alone; another offset,
		// more digits or trailing zeros also keep the text.
		return []string{"2026-12-06T08:00:00.123Z", "2026-12-06T16:00:00.5+08:00", "2026-01-02T03:04:05.123456789Z",
			"2026-12-06T08:00:00.100Z", "1969-12-31T23:59:59.999Z"}[i%5]
	case fsync.UUID, fsync.Media:
		return fmt.Sprintf("0190f000-0000-7000-8000-%012d", i)
	case fsync.UUIDList, fsync.MediaList:
		if i%3 == 0 {
			return []any{}
		}
		return []any{fmt.Sprintf("0190f000-0000-7000-8000-%012d", i), fmt.Sprintf("0190f000-0000-7000-8000-%012d", i+1)}
	case fsync.StringList:
		if i%3 == 0 {
			return []any{}
		}
		return []any{t, "第二"}
	case fsync.GPS:
		if i%2 == 0 {
			return map[string]any{"lat": 31.2304 + float64(i)/1000, "lng": 121.4737, "accuracy": 4.5}
		}
		return map[string]any{"lat": -33.8688, "lng": 151.2093}
	case fsync.ObjectList:
		if i%3 == 0 {
			return []any{}
		}
		var list []any
		for j := range 1 + i%3 {
			o := map[string]any{}
			for _, it := range f.Item {
				o[it.Name] = valueOf(it, i+j)
			}
			list = append(list, o)
		}
		return list
	}
	return nil
}

// coveringRecords are n records of coll with a value for every declared
// field, and undeclared ones of every type FerretDB keeps.
func coveringRecords(tenant string, c *fsync.Collection, n int, now time.Time) []*fsync.Record {
	var out []*fsync.Record
	for i := range n {
		id := fmt.Sprintf("0190f000-0000-7000-9000-%012d", i)
		fields := map[string]any{}
		for _, f := range c.Fields {
			if i%5 == 4 && !f.Required {
				continue // some records leave optional fields out
			}
			fields[f.Name] = valueOf(f, i)
		}
		fields[fsync.SiteField] = []string{"s1", "s2"}[i%2]
		fields["note_null"] = nil
		fields["extra_nested"] = map[string]any{"a": map[string]any{"b": []any{1.5, "x", nil, true, int64(-3), map[string]any{"c": []any{}}}}, "empty": map[string]any{}}
		fields["extra_int32"] = int32(i)
		fields["extra_big"] = int64(1 << 62)
		fields["extra_types"] = bson.D{{Key: "bin", Value: bson.Binary{Subtype: 0x80, Data: []byte{0, 1, 2, 255}}},
			{Key: "oid", Value: bson.ObjectID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}, {Key: "re", Value: bson.Regex{Pattern: "^a.*b$", Options: "i"}},
			{Key: "ts", Value: bson.Timestamp{T: 1_700_000_000, I: 7}}, {Key: "date", Value: bson.NewDateTimeFromTime(now)}}
		fields["client_created_at"] = "2026-12-06T16:00:00+08:00"
		r := &fsync.Record{Key: tenant + "/" + c.Name + "/" + id, Tenant: tenant, Collection: c.Name, ID: id,
			SiteID: fields[fsync.SiteField].(string), Version: 1, Deleted: i%7 == 3,
			CreatedAt: now.Add(-time.Duration(i) * time.Minute), CreatedBy: "u1", CreatedByName: "张三",
			UpdatedAt: now, UpdatedBy: "u2", UpdatedDevice: "d1", Fields: fields,
			FieldVersions: map[string]int64{"title": 1}, FieldDevices: map[string]string{"title": "d1"},
			Receipts:  []fsync.Receipt{{MutationID: fmt.Sprint("m", i), Status: "applied", Version: 1}},
			AuditHash: fmt.Sprintf("%064x", i), AuditAt: now.Add(time.Second)}
		if i%2 == 1 {
			r.Assignees, r.Former, r.Media = []string{"u3", "u4"}, []string{"u5"}, []string{"0190f000-0000-7000-8000-000000000001"}
		}
		out = append(out, r)
	}
	return out
}

// drain reads every record of a walk.
func drain(t *testing.T, s *mongodb.SyncStore, tenant, coll string, q fsync.Query) ([]*fsync.Record, bool) {
	t.Helper()
	ctx := context.Background()
	cur, err := s.Walk(ctx, tenant, coll, q)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	var out []*fsync.Record
	for {
		r, err := cur.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r == nil {
			return out, cur.ByPosition()
		}
		out = append(out, r)
	}
}

// sameRecords fails t unless got and want are the same records field by
// field (in position order when sorted; any order otherwise).
func sameRecords(t *testing.T, label string, got, want []*fsync.Record, sorted bool) {
	t.Helper()
	byPos := func(a, b *fsync.Record) int { return int(a.Pos - b.Pos) }
	if !sorted {
		got, want = slices.Clone(got), slices.Clone(want)
		slices.SortFunc(got, byPos)
		slices.SortFunc(want, byPos)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d records through the side door, %d through the driver", label, len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			g, _ := json.MarshalIndent(got[i], "", " ")
			w, _ := json.MarshalIndent(want[i], "", " ")
			t.Fatalf("%s: record %d differs\nside door %s\ndriver    %s", label, i, g, w)
		}
	}
}

// TestSideWalksMatchTheDriver stores records holding every declared field
// of every collection (and undeclared values of every type FerretDB
// keeps) through the store, changes and deletes some, and walks them
// through the side door and through the driver: the same records, field by
// field, in the same order; every document read by the side door itself.
func TestSideWalksMatchTheDriver(t *testing.T) {
	ctx := context.Background()
	store := devtest.MustOpenStoreDB(t, devtest.DBName(t), mongodb.Options{})
	colls := field.Collections(field.Options{})
	side, plain, ferret := sideAndPlain(t, store, fsync.Schema{Collections: colls})
	now := time.Now().UTC().Truncate(time.Millisecond)
	pos := int64(0)
	for _, tenant := range []string{"ta", "tb"} {
		var puts []fsync.Put
		for _, c := range colls {
			for _, r := range coveringRecords(tenant, c, 23, now) {
				pos++
				r.Pos = pos
				puts = append(puts, fsync.Put{Record: r})
			}
		}
		if _, err := plain.Commit(ctx, fsync.Commit{Tenant: tenant, Records: puts}); err != nil {
			t.Fatal(err)
		}
		// A second version of every third record, at a later position.
		var again []fsync.Put
		for i, p := range puts {
			if i%3 == 0 {
				r := *p.Record
				pos++
				r.Version, r.Pos, r.Deleted = 2, pos, i%2 == 0
				again = append(again, fsync.Put{Record: &r, Replaces: 1})
			}
		}
		if _, err := plain.Commit(ctx, fsync.Commit{Tenant: tenant, Records: again}); err != nil {
			t.Fatal(err)
		}
	}
	walked, fellBack := mongodb.SideWalkCounts()
	queries := []fsync.Query{
		{Live: true}, // a bootstrap stream
		{Sites: []string{"s1"}, Live: true, Batch: 7}, // of one site, in small batches
		{Sites: []string{"s2", "s1"}, Live: true, Order: fsync.ByPositionOrCheaper, Batch: 5},
		{After: pos / 3, Upto: pos * 2 / 3, Order: fsync.ByPosition, Batch: 4}, // a pull's rescan
		{After: pos / 2, Order: fsync.ByPosition},
		{Sites: []string{}, Live: true},
		{Upto: pos / 4, Batch: 1},
	}
	for _, c := range colls {
		for _, tenant := range []string{"ta", "tb", "tc"} {
			for qi, q := range queries {
				label := fmt.Sprintf("walk %d of %s/%s", qi, tenant, c.Name)
				want, _ := drain(t, plain, tenant, c.Name, q)
				got, byPos := drain(t, side, tenant, c.Name, q)
				sorted := q.Order == fsync.ByPosition || byPos && q.Order == fsync.ByPositionOrCheaper
				if ferret && !byPos {
					t.Fatalf("%s: the side door's walk is not by position", label)
				}
				sameRecords(t, label, got, want, sorted || byPos && q.Order != fsync.AnyOrder)
				if tenant != "tc" && qi < 2 && len(want) == 0 {
					t.Fatalf("%s found nothing: the comparison proves little", label)
				}
			}
			q := fsync.Query{Order: fsync.ByPosition, Limit: 5, After: 3}
			want, err := plain.Find(ctx, tenant, c.Name, q)
			if err != nil {
				t.Fatal(err)
			}
			got, err := side.Find(ctx, tenant, c.Name, q)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, "find "+tenant+"/"+c.Name, got, want, true)
		}
	}
	// Every collection at once, as the event stream reads a range.
	q := fsync.Query{After: 10, Upto: pos - 10}
	want, err := plain.Find(ctx, "ta", "", q)
	if err != nil {
		t.Fatal(err)
	}
	got, err := side.Find(ctx, "ta", "", q)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, "find in every collection", got, want, false)
	if ferret {
		for _, c := range colls {
			texts, err := mongodb.StoredTexts(ctx, side, c.Name, 50)
			if err != nil || len(texts) == 0 {
				t.Fatalf("stored texts of %s: %d, %v", c.Name, len(texts), err)
			}
			for _, b := range texts {
				sameReading(t, b)
			}
		}
		w, f := mongodb.SideWalkCounts()
		if w-walked < 1000 || f != fellBack {
			t.Fatalf("the side door read %d documents itself and %d through FerretDB; want all of them itself", w-walked, f-fellBack)
		}
		// The walk's batches search the index on (tenant, position, _id, …), in its order.
		for _, afterID := range []string{"", "ta/work_orders/x"} {
			plan, err := mongodb.SideWalkPlan(ctx, side, "ta", fieldsync.CollWorkOrders, fsync.Query{Sites: []string{"s1"}, Live: true, After: 5, Upto: 90}, afterID)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("side walk plan: %s", plan)
			if !strings.Contains(plan, "fieldsync_walk (<expr>=? AND <expr>>? AND <expr><?)") || strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "SCAN ") {
				t.Errorf("the side walk's plan %q does not search the position index in its order", plan)
			}
		}
		// A side door that fails degrades to the driver's walk.
		mongodb.BreakSideDoor(side)
		got, _ := drain(t, side, "ta", fieldsync.CollWorkOrders, fsync.Query{Live: true})
		want, _ := drain(t, plain, "ta", fieldsync.CollWorkOrders, fsync.Query{Live: true})
		sameRecords(t, "with the side door broken", got, want, false)
	}
}

// TestSideWalkUnderPushes walks a collection in small batches while
// records are changed (moving to later positions) and added: every record
// there when the walk began comes out once, none twice, in position order.
func TestSideWalkUnderPushes(t *testing.T) {
	ctx := context.Background()
	_, s := openSideDoorStore(t)
	colls := field.Collections(field.Options{})
	var c *fsync.Collection
	for _, x := range colls {
		if x.Name == fieldsync.CollWorkOrders {
			c = x
		}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	recs := coveringRecords("ta", c, 300, now)
	var puts []fsync.Put
	for i, r := range recs {
		r.Pos, r.Deleted = int64(i+1), false
		puts = append(puts, fsync.Put{Record: r})
	}
	if _, err := s.Commit(ctx, fsync.Commit{Tenant: "ta", Records: puts}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	pos := int64(len(recs))
	version := map[string]int64{}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		// Change a record the walk has or has not met, and add one, until stopped.
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			mu.Lock()
			r := *recs[(i*37)%len(recs)]
			version[r.Key]++
			from := r.Version + version[r.Key] - 1
			pos++
			r.Version, r.Pos = from+1, pos
			extra := coveringRecords("ta", c, 1, now)[0]
			extra.ID = fmt.Sprintf("0190f000-0000-7000-a000-%012d", i)
			extra.Key = "ta/" + c.Name + "/" + extra.ID
			pos++
			extra.Pos, extra.Deleted = pos, false
			mu.Unlock()
			if _, err := s.Commit(ctx, fsync.Commit{Tenant: "ta", Records: []fsync.Put{{Record: &r, Replaces: from}, {Record: extra}}}); err != nil {
				done <- err
				return
			}
		}
	}()
	cur, err := s.Walk(ctx, "ta", c.Name, fsync.Query{Live: true, Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	last := int64(0)
	for {
		r, err := cur.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r == nil {
			break
		}
		if seen[r.Key] {
			t.Fatalf("%s came twice", r.Key)
		}
		if r.Pos <= last {
			t.Fatalf("position %d after %d", r.Pos, last)
		}
		seen[r.Key], last = true, r.Pos
		time.Sleep(time.Millisecond) // let the pushes overtake the walk
	}
	cur.Close(ctx)
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	changed := 0
	for _, r := range recs {
		if !seen[r.Key] {
			t.Fatalf("%s, there when the walk began, did not come", r.Key)
		}
		if version[r.Key] > 0 {
			changed++
		}
	}
	if changed < 20 {
		t.Fatalf("only %d records changed during the walk: the test proves little", changed)
	}
}

// sameReading fails t unless the side door reads each stored text b as
// the reference reading of FerretDB's format does.
func sameReading(t testing.TB, b []byte) {
	t.Helper()
	got, err := mongodb.SJSONToBSON(b)
	want, wantErr := referenceSJSON(b)
	if err != nil || wantErr != nil || string(got) != string(want) {
		t.Fatalf("a stored record %s:\nside door %v %s\nreference %v %s", b, err, bson.Raw(got), wantErr, bson.Raw(want))
	}
}

// storedSeeds are stored texts of records of every collection
// (testdata/sjson, taken from FerretDB's file after storing
// coveringRecords through the store).
func storedSeeds(t testing.TB) [][]byte {
	_, file, _, _ := runtime.Caller(0) // the embedded stores may move the working directory
	dir := filepath.Join(filepath.Dir(file), "testdata", "sjson")
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("seeds in %s: %d, %v", dir, len(entries), err)
	}
	var out [][]byte
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzSJSONToBSON feeds the side door's reader stored texts of real
// records and their mutations: it never panics, and what it reads is a
// valid BSON document, the same that an independent reading of the format
// (with encoding/json, as FerretDB reads it) gives.
func FuzzSJSONToBSON(f *testing.F) {
	for _, b := range storedSeeds(f) {
		sameReading(f, b)
		f.Add(b)
	}
	for _, b := range []string{`{"$s":{},"a":1}`, `{"$s":{}}`, `{"$s":{"p":{"a":{"t":"int"}},"$k":["a"]},"a":2147483648}`,
		`{"$s":{"p":{"a":{"t":"object","$s":{"p":{"b":{"t":"long"}},"$k":["b"]}}},"$k":["a"]},"a":{}}`,
		`{"$s":{"p":{"a":{"t":"array","i":[{"t":"double"},null]}},"$k":["a"]},"a":[1e308,null]}`,
		`{"$s":{"p":{"r":{"t":"regex","o":"mi"},"b":{"t":"binData","s":128}},"$k":["r","b"]},"r":"^a\\d","b":"AAEC"}`} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := mongodb.SJSONToBSON(b)
		if err != nil {
			return // the caller reads it through FerretDB
		}
		want, wantErr := referenceSJSON(b)
		switch {
		case wantErr != nil:
			t.Fatalf("read %q, which FerretDB's way refuses: %v", b, wantErr)
		case bson.Raw(got).Validate() != nil:
			t.Fatalf("invalid BSON from %q", b)
		case string(got) != string(want):
			t.Fatalf("%q:\nside door %s\nreference %s", b, bson.Raw(got), bson.Raw(want))
		}
	})
}

// BenchmarkWalkAll walks every live work order of a tenant (a desk's
// bootstrap) through the side door and through the driver, on the same
// store: go test ./mongodb -run '^$' -bench WalkAll -benchtime 3x
// (FIELDSYNC_BENCH_RECORDS sets how many, 20,000 by default).
func BenchmarkWalkAll(b *testing.B) {
	ctx := context.Background()
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("FIELDSYNC_BENCH_RECORDS")); err == nil && v > 0 {
		n = v
	}
	store := devtest.MustOpenStoreDB(b, devtest.DBName(b), mongodb.Options{})
	colls := field.Collections(field.Options{})
	side, plain := store.SyncTuned(mongodb.Tuning{PointLoads: true, ScopedReads: true}), store.SyncTuned(mongodb.Tuning{})
	for _, s := range []*mongodb.SyncStore{side, plain} {
		if _, err := s.Start(ctx, fsync.Schema{Collections: colls}); err != nil {
			b.Fatal(err)
		}
	}
	var c *fsync.Collection
	for _, x := range colls {
		if x.Name == fieldsync.CollWorkOrders {
			c = x
		}
	}
	recs := coveringRecords("ta", c, n, time.Now().UTC())
	for i, r := range recs {
		r.Pos = int64(i + 1)
	}
	for part := range slices.Chunk(recs, 500) {
		var puts []fsync.Put
		for _, r := range part {
			puts = append(puts, fsync.Put{Record: r})
		}
		if _, err := plain.Commit(ctx, fsync.Commit{Tenant: "ta", Records: puts}); err != nil {
			b.Fatal(err)
		}
	}
	for _, run := range []struct {
		name string
		s    *mongodb.SyncStore
	}{{"side_door", side}, {"driver", plain}} {
		b.Run(run.name, func(b *testing.B) {
			for b.Loop() {
				cur, err := run.s.Walk(ctx, "ta", c.Name, fsync.Query{Sites: []string{"s1", "s2"}, Live: true, Batch: 1000})
				if err != nil {
					b.Fatal(err)
				}
				got := 0
				for {
					r, err := cur.Next(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if r == nil {
						break
					}
					got++
				}
				cur.Close(ctx)
				if got == 0 {
					b.Fatal("walked nothing")
				}
				b.ReportMetric(float64(got), "records/op")
			}
		})
	}
}
