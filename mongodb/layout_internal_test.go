package mongodb

import (
	"reflect"
	"testing"
	"time"

	fsync "fieldsync/sync"
)

// TestLayoutGivesBackWhatWasStored: a record's fields come back from its
// stored document exactly as the engine held them — a phone's time in any
// offset and with any digits, a time in a list element, a GPS point — while
// the document holds dates and GeoJSON; a time the date renders by itself
// (server-set, UTC milliseconds) keeps no text.
func TestLayoutGivesBackWhatWasStored(t *testing.T) {
	coll := &fsync.Collection{Name: "things", Fields: []fsync.Field{
		{Name: fsync.SiteField, Kind: fsync.String},
		{Name: "at", Kind: fsync.Time}, {Name: "z", Kind: fsync.Time}, {Name: "ms", Kind: fsync.Time}, {Name: "server", Kind: fsync.Time},
		{Name: "gps", Kind: fsync.GPS}, {Name: "n", Kind: fsync.Int}, {Name: "x", Kind: fsync.Number},
		{Name: "scans", Kind: fsync.ObjectList, Item: []fsync.Field{{Name: "scanned_at", Kind: fsync.Time}, {Name: "gps", Kind: fsync.GPS}, {Name: "code", Kind: fsync.String}}},
	}}
	now := time.Date(2026, 12, 6, 4, 0, 0, 123_000_000, time.UTC)
	r := &fsync.Record{Key: "t1/things/a", Tenant: "t1", Collection: "things", ID: "a", SiteID: "s1", Version: 3, Pos: 42,
		CreatedAt: now, UpdatedAt: now, CreatedBy: "u1", UpdatedBy: "u2", UpdatedDevice: "d1",
		Fields: map[string]any{fsync.SiteField: "s1", "at": "2026-12-06T12:00:00.000+08:00", "z": "2026-12-06T04:00:00+00:00",
			"ms": "2026-12-06T04:00:00.123456789Z", "server": "2026-12-06T04:00:00.123Z",
			"gps": map[string]any{"lat": 31.2, "lng": 121.4, "accuracy": 5.0}, "n": int64(7), "x": 2.5,
			"scans": []any{map[string]any{"scanned_at": "2026-12-06T11:59:00+08:00", "code": "CP-1",
				"gps": map[string]any{"lat": 31.0, "lng": 121.0}}},
			"client_created_at": "2026-12-06T11:58:00+08:00"},
		FieldVersions: map[string]int64{"n": 3}, FieldDevices: map[string]string{"n": "d1"},
		Receipts:  []fsync.Receipt{{MutationID: "m1", Status: "applied", Version: 1}, {MutationID: "m2", Status: "conflict", Version: 3}},
		AuditHash: "h", AuditAt: now}
	doc, err := encodeRecord(r, coll)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Lookup("at").DateTimeOK(); !ok {
		t.Errorf("at: got %v, want a date", doc.Lookup("at"))
	}
	if ty, _ := doc.Lookup("gps", "type").StringValueOK(); ty != "Point" {
		t.Errorf("gps: got %v, want a GeoJSON point", doc.Lookup("gps"))
	}
	if _, ok := doc.Lookup("scans", "0", "scanned_at").DateTimeOK(); !ok {
		t.Errorf("scans[0].scanned_at: not a date: %v", doc.Lookup("scans"))
	}
	times, _ := doc.Lookup("_sync", "times").DocumentOK()
	if _, err := times.LookupErr("server"); err == nil {
		t.Errorf("a UTC millisecond time kept its text: %v", times)
	}
	if _, err := doc.LookupErr("_sync", "audit_at"); err == nil {
		t.Errorf("audit_at stored though it is updated_at")
	}
	got, err := decodeRecord(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Fields, r.Fields) {
		t.Errorf("fields: got %#v\nwant %#v", got.Fields, r.Fields)
	}
	if got.Version != 3 || got.Pos != 42 || got.UpdatedDevice != "d1" || got.Collection != "things" || !reflect.DeepEqual(got.Receipts, r.Receipts) ||
		!got.AuditAt.Equal(now) || !reflect.DeepEqual(got.FieldVersions, r.FieldVersions) || got.ID != "a" || got.Tenant != "t1" {
		t.Errorf("bookkeeping: got %+v", got)
	}
}
