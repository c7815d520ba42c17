package jsontext

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
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

// TestAppendIsMarshal: Append writes what json.Marshal writes, and
// declines what it does not handle or what has no JSON.
func TestAppendIsMarshal(t *testing.T) {
	for _, v := range jsonSamples() {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := Append([]byte("prefix"), v)
		if !ok || !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("%#v: got %q (%v), want prefix%q", v, got, ok, want)
		}
	}
	for _, v := range []any{math.NaN(), math.Inf(-1), []any{1.0, math.Inf(1)}, map[string]any{"a": int32(1)}, 3, []string{"x"}} {
		if got, ok := Append([]byte("p"), v); ok || string(got) != "p" {
			t.Errorf("%#v: got %q, %v; want it declined and nothing appended", v, got, ok)
		}
	}
}
