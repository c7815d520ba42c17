package sync

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"fieldsync"
)

// jsonSamples are values of every kind the engine holds, with the strings
// and numbers encoding/json treats specially, plus random ones.
func jsonSamples() []any {
	strs := []string{"", "plain", `q"uote\\back`, "<b>&amp;</b>", "line\nbreak\ttab\rcr\bbs\ffeed\x00\x01\x1f\x7f",
		"王大文 ✓ emoji 😀", "\u2028sep\u2029", "bad \xff\xfe utf8 \xc3", "\xe2\x80", "é"}
	floats := []float64{0, math.Copysign(0, -1), 1, -1.5, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 123456789012345678, 0.1, 22.512345678901234,
		math.MaxFloat64, math.SmallestNonzeroFloat64, -1e-300, 5e-324}
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		f := math.Float64frombits(r.Uint64())
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			floats = append(floats, f)
		}
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		strs = append(strs, string(b))
	}
	var out []any
	for _, s := range strs {
		out = append(out, s)
	}
	for _, f := range floats {
		out = append(out, f)
	}
	out = append(out, nil, true, false, int64(0), int64(-7), int64(math.MaxInt64), int64(math.MinInt64),
		[]any{}, []any(nil), map[string]any{}, map[string]any(nil),
		[]any{"a", 1.5, nil, []any{int64(2)}, map[string]any{"z": 1.0, "a": "<", "é": nil, "": false}},
		map[string]any{"lat": 22.3, "lng": 114.1, "accuracy": 5.0, "nested": map[string]any{"b\n": []any{strs[7]}}})
	return out
}

// TestAppendJSONIsMarshal: appendJSON writes what json.Marshal writes, and
// declines what it does not handle or what has no JSON.
func TestAppendJSONIsMarshal(t *testing.T) {
	for _, v := range jsonSamples() {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendJSON([]byte("prefix"), v)
		if !ok || !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("%#v: got %q (%v), want prefix%q", v, got, ok, want)
		}
	}
	for _, v := range []any{math.NaN(), math.Inf(-1), []any{1.0, math.Inf(1)}, map[string]any{"a": int32(1)}, 3, []string{"x"}} {
		if got, ok := appendJSON([]byte("p"), v); ok || string(got) != "p" {
			t.Errorf("%#v: got %q, %v; want it declined and nothing appended", v, got, ok)
		}
		if got, want := appendRawJSON(nil, v), rawJSON(v); !bytes.Equal(got, want) {
			t.Errorf("%#v: appendRawJSON got %q, want %q", v, got, want)
		}
	}
}

// TestAuditTextIsMarshal: an entry's changes, hash and id are what the
// json.Marshal and fmt versions made of them.
func TestAuditTextIsMarshal(t *testing.T) {
	samples := jsonSamples()
	var changes []fieldsync.AuditChange
	var text []byte
	text = append(text, '[')
	for i := 0; i+1 < len(samples); i += 2 {
		field := fmt.Sprint(samples[i])
		appended := i%3 == 0
		if i > 0 {
			text = append(text, ',')
		}
		text = appendChange(text, field, samples[i], samples[i+1], appended)
		changes = append(changes, fieldsync.AuditChange{Field: field, Old: rawJSON(samples[i]), New: rawJSON(samples[i+1]), Appended: appended})
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
	for i, s := range samples {
		str, _ := s.(string)
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
