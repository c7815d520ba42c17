package sync

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// normalize turns a value decoded from BSON, or handed in by server code, into
// the JSON-native form the engine keeps: string, float64, int64, bool,
// []any, map[string]any.
func normalize(v any) any {
	switch x := v.(type) {
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case bson.A:
		return normalize([]any(x))
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case bson.D:
		m := make(map[string]any, len(x))
		for _, e := range x {
			m[e.Key] = normalize(e.Value)
		}
		return m
	case bson.M:
		return normalize(map[string]any(x))
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = normalize(e)
		}
		return m
	case time.Time:
		// Server-set times are UTC milliseconds: what a stored date holds,
		// so the date gives the text back and nothing more is kept (layout.go).
		return x.UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)
	case bson.DateTime:
		return x.Time().UTC().Format(time.RFC3339Nano)
	}
	return v
}

// normalizeRecord finishes a record read from the database: its maps never nil.
func normalizeRecord(r *Record) error {
	if r.Fields == nil {
		r.Fields = map[string]any{}
	}
	if r.FieldVersions == nil {
		r.FieldVersions = map[string]int64{}
	}
	if r.FieldDevices == nil {
		r.FieldDevices = map[string]string{}
	}
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return nil
}
