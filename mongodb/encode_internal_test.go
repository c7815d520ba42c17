package mongodb

import (
	"bytes"
	"testing"
	"time"

	fsync "fieldsync/sync"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestEncodeAuditIsTheDriversEncoding: an audit entry's stored document is
// byte for byte what the driver's reflective encoder made of auditDoc —
// every optional field there and not, times of any zone and digits.
func TestEncodeAuditIsTheDriversEncoding(t *testing.T) {
	at := time.Date(2026, 12, 6, 8, 0, 1, 123_456_789, time.FixedZone("HKT", 8*3600))
	full := fsync.AuditLink{ID: "t/inspections/a/00000000000000000002/0123456789abcdef", Tenant: "t", Collection: "inspections",
		Record: "a", Site: "s1", Version: 2, Op: "action", Action: "close", MutationID: "m-1", User: "u1", UserName: "Wong Tai-man 王大文",
		Device: "d1", At: at, ClientTime: "2026-12-06T16:00:00+08:00", Changes: `[{"field":"status","old":"open","new":"closed"}]`,
		PrevHash: "ab12", PrevAt: at.Add(-time.Hour), Hash: "cd34"}
	bare := fsync.AuditLink{ID: "x", Tenant: "t", Collection: "c", Record: "r", Version: 1, Op: "create", User: "server",
		Device: "server", At: time.UnixMilli(1764979200000).UTC(), Changes: "[]"}
	var empty fsync.AuditLink
	for name, l := range map[string]fsync.AuditLink{"full": full, "bare": bare, "empty": empty} {
		want, err := bson.Marshal(auditDoc(l))
		if err != nil {
			t.Fatal(err)
		}
		if got := encodeAudit(&l); !bytes.Equal(got, want) {
			t.Errorf("%s: got %v\nwant %v", name, got, bson.Raw(want))
		}
	}
}

// TestAppendDocumentIsTheDriversEncoding: a record's stored document is
// byte for byte what bson.Marshal made of it — once each Go map's keys are
// in order, which the driver left to Go's random map order — for records
// of every kind of value the engine holds, and a value of a type the fast
// path does not know goes through the driver.
func TestAppendDocumentIsTheDriversEncoding(t *testing.T) {
	coll := &fsync.Collection{Name: "things", Fields: []fsync.Field{
		{Name: fsync.SiteField, Kind: fsync.String}, {Name: "at", Kind: fsync.Time}, {Name: "gps", Kind: fsync.GPS},
		{Name: "n", Kind: fsync.Int}, {Name: "x", Kind: fsync.Number}, {Name: "ok", Kind: fsync.Bool},
		{Name: "tags", Kind: fsync.StringList}, {Name: "photo_ids", Kind: fsync.MediaList},
		{Name: "scans", Kind: fsync.ObjectList, Item: []fsync.Field{{Name: "scanned_at", Kind: fsync.Time}, {Name: "gps", Kind: fsync.GPS}}},
	}}
	now := time.Date(2026, 12, 6, 4, 0, 0, 123_000_000, time.UTC)
	base := func() *fsync.Record {
		return &fsync.Record{Key: "t1/things/a", Tenant: "t1", Collection: "things", ID: "a", SiteID: "s1", Version: 1, Pos: 7,
			CreatedAt: now, UpdatedAt: now, CreatedBy: "u1", UpdatedBy: "u1", Fields: map[string]any{fsync.SiteField: "s1"}}
	}
	full := base()
	full.CreatedByName, full.UpdatedByName, full.UpdatedDevice = "Chan Siu-ming 陳小明", "Lee", "d1"
	full.Version, full.Deleted = 9, true
	full.Fields = map[string]any{fsync.SiteField: "s1", "at": "2026-12-06T12:00:00.5+08:00", "n": int64(-3), "x": 1e300, "ok": false,
		"gps": map[string]any{"lat": 31.2, "lng": 121.4, "accuracy": 5.0}, "tags": []any{"a", "b"}, "photo_ids": []any{},
		"scans":             []any{map[string]any{"scanned_at": "2026-12-06T11:59:00Z", "gps": map[string]any{"lat": 1.0, "lng": 2.0}, "note": nil}, "odd"},
		"extra":             map[string]any{"z": 1.0, "a": []any{nil, true, map[string]any{}}, "m": map[string]any{"k": "v", "j": int64(2)}},
		"client_created_at": "2026-12-06T11:58:00+08:00", "weird": int32(5), "also": 7, "nilmap": map[string]any(nil), "nillist": []any(nil)}
	full.Assignees, full.Former, full.Media = []string{"u2", "u3"}, []string{"u4"}, []string{"m1"}
	full.FieldVersions = map[string]int64{"n": 3, "x": 9, "at": 2}
	full.FieldDevices = map[string]string{"n": "d1", "x": "d2"}
	full.Receipts = []fsync.Receipt{{MutationID: "m1", Status: "applied", Version: 1}, {MutationID: "m2", Status: "conflict", Version: 3}}
	full.AuditHash, full.AuditAt = "h", now.Add(-time.Minute)
	for name, r := range map[string]*fsync.Record{"bare": base(), "full": full} {
		for _, c := range []*fsync.Collection{coll, nil} {
			d := recordDoc(r, c)
			want, err := bson.Marshal(sortedMaps(d))
			if err != nil {
				t.Fatal(err)
			}
			got, err := encodeRecord(r, c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s (typed %v): got %v\nwant %v", name, c != nil, got, bson.Raw(want))
			}
		}
	}
	if _, err := appendDocument(nil, bson.D{{Key: "a\x00b", Value: 1.0}}); err == nil {
		t.Error("a key with a null byte was encoded")
	}
	if _, err := appendDocument(nil, bson.D{{Key: "ch", Value: make(chan int)}}); err == nil {
		t.Error("a channel was encoded")
	}
}

// sortedMaps is v with every Go map made a bson.D in key order.
func sortedMaps(v any) any {
	switch x := v.(type) {
	case bson.D:
		out := make(bson.D, len(x))
		for i, e := range x {
			out[i] = bson.E{Key: e.Key, Value: sortedMaps(e.Value)}
		}
		return out
	case bson.A:
		return bson.A(sortedMaps([]any(x)).([]any))
	case []any:
		if x == nil {
			return x
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = sortedMaps(e)
		}
		return out
	case map[string]any:
		if x == nil {
			return x
		}
		d := bson.D{}
		for _, k := range sortedKeys(x) {
			d = append(d, bson.E{Key: k, Value: sortedMaps(x[k])})
		}
		return d
	case map[string]string:
		d := bson.D{}
		for _, k := range sortedKeys(x) {
			d = append(d, bson.E{Key: k, Value: x[k]})
		}
		return d
	case map[string]int64:
		d := bson.D{}
		for _, k := range sortedKeys(x) {
			d = append(d, bson.E{Key: k, Value: x[k]})
		}
		return d
	}
	return v
}
