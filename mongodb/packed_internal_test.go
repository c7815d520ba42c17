package mongodb

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// randomValue makes a field value of the kinds the engine stores, nested.
func randomValue(r *rand.Rand, depth int) any {
	switch k := r.IntN(9); {
	case k == 0:
		return fmt.Sprint("s", r.IntN(1000), "é\u2028\"")
	case k == 1:
		return r.Float64() * 1e6
	case k == 2:
		return float64(r.IntN(100)) // a whole float stays a float
	case k == 3:
		return r.Int64N(1 << 50)
	case k == 4:
		return r.IntN(2) == 0
	case k == 5:
		return time.UnixMilli(r.Int64N(1 << 41)).UTC() // a computed time
	case k == 6 && depth < 3:
		l := make([]any, r.IntN(4))
		for i := range l {
			l[i] = randomValue(r, depth+1)
		}
		return l
	case k == 7 && depth < 3:
		m := map[string]any{}
		for i := range r.IntN(4) {
			m[fmt.Sprint("k", i)] = randomValue(r, depth+1)
		}
		return m
	}
	return int32(r.IntN(1000))
}

// The direct decoding of a packed record gives what the driver's generic
// decoding followed by fromBSON gave.
func TestDecodePackedMatchesGenericDecoding(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		p := packed{ID: fmt.Sprint("id", i), CreatedBy: "u1", UpdatedBy: "u2", UpdatedAt: time.UnixMilli(r.Int64N(1 << 41)).UTC(),
			Fields: map[string]any{}, FieldVersions: map[string]int64{"a": r.Int64N(9)}, FieldDevices: map[string]string{"a": "d"},
			Receipts: []legacyReceipt{{MutationID: "m", Status: "applied", Version: r.Int64N(9)}}}
		for j := range r.IntN(8) {
			p.Fields[fmt.Sprint("f", j)] = randomValue(r, 0)
		}
		b, err := bson.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var want packed
		if err := bson.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		for k, v := range want.Fields {
			want.Fields[k] = fromBSON(v)
		}
		want.UpdatedAt = want.UpdatedAt.UTC()
		var got packed
		if err := decodePacked(b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("record %d:\ngot  %#v\nwant %#v", i, got, want)
		}
	}
}
