package sync

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"fieldsync"
)

// auditSamples are field values and names encoding/json writes in its own
// ways: escapes, HTML, bad UTF-8, line separators, exponents, nesting, and
// values it is not handed by the fast path (an int, a NaN).
var auditSamples = []any{"", `q"uote\back`, "<b>&</b>\n\t\x01", "王 😀 \u2028\u2029", "bad \xff utf8", 1e-7, 1e21, -0.5, 22.512345678901234,
	int64(math.MinInt64), true, nil, []any{}, []any(nil), map[string]any{"z": 1.0, "a": []any{"<", nil}, "é": map[string]any{}},
	[]any{map[string]any{"lat": 22.3, "lng": 114.1}}, 7, math.NaN(), []string{"x"}}

// TestAuditTextIsMarshal: an entry's changes, hash and id are what the
// json.Marshal and fmt versions made of them.
func TestAuditTextIsMarshal(t *testing.T) {
	var changes []fieldsync.AuditChange
	text := []byte{'['}
	for i, old := range auditSamples {
		field, new := fmt.Sprint(old), auditSamples[(i+1)%len(auditSamples)]
		if i > 0 {
			text = append(text, ',')
		}
		text = appendChange(text, field, old, new, i%3 == 0)
		changes = append(changes, fieldsync.AuditChange{Field: field, Old: rawJSON(old), New: rawJSON(new), Appended: i%3 == 0})
	}
	text = append(text, ']')
	want, err := json.Marshal(changes)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(text, want) {
		t.Fatalf("changes: got\n%s\nwant\n%s", text, want)
	}
	at := time.Date(2026, 12, 6, 8, 0, 1, 123_456_000, time.FixedZone("x", 3600))
	for i, s := range auditSamples {
		str := fmt.Sprint(s)
		d := &AuditLink{Tenant: "t" + str, Collection: "inspections", Record: str, Site: "<s&>", Version: int64(i), Op: "update",
			Action: str, MutationID: "m", User: "u", UserName: str, Device: "d", At: at, ClientTime: str, Changes: string(want),
			PrevHash: "ph"}
		if i%2 == 0 {
			d.PrevAt = at.Add(-time.Duration(i) * time.Second)
		}
		if got, want := d.hash(), hashByMarshal(d); got != want {
			t.Errorf("hash of %#v: got %s, want %s", d, got, want)
		}
	}
	for _, v := range []int64{0, 1, 42, 1234567890123, math.MaxInt64, -1, math.MinInt64} {
		h := "0123456789abcdef0123"
		if got, want := auditID("t/c/id", v, h), fmt.Sprintf("%s/%020d/%s", "t/c/id", v, h[:16]); got != want {
			t.Errorf("id of version %d: got %q, want %q", v, got, want)
		}
	}
}

// hashByMarshal is AuditLink.hash as it was written with json.Marshal.
func hashByMarshal(d *AuditLink) string {
	pa := ""
	if !d.PrevAt.IsZero() {
		pa = d.PrevAt.UTC().Format(time.RFC3339Nano)
	}
	b, _ := json.Marshal([]any{d.Tenant, d.Collection, d.Record, d.Site, d.Version, d.Op, d.Action, d.MutationID,
		d.User, d.UserName, d.Device, d.At.UTC().Format(time.RFC3339Nano), d.ClientTime, d.Changes, d.PrevHash, pa})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
