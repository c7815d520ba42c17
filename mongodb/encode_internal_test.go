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
