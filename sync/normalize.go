package sync

import "time"

// Normalize turns a value handed in by server code (or decoded by a store)
// into the JSON-native form the engine keeps: string, float64, int64, bool,
// nil, []any, map[string]any; a time.Time becomes its RFC 3339 text.
func Normalize(v any) any {
	switch x := v.(type) {
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Normalize(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = Normalize(e)
		}
		return m
	case time.Time:
		// Server-set times are UTC milliseconds: what a stored date holds,
		// so a store that keeps dates gives the same text back.
		return x.UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)
	}
	return v
}

func normalize(v any) any { return Normalize(v) }
