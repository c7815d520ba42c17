// Package sync is fieldsync's sync engine: declared collections, validation,
// field-level merge, idempotent batched push, a per-tenant change log with
// reservations against the gap problem, scope-filtered pull and bootstrap,
// and live change notification. Import it as fsync beside the standard library.
package sync

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"fieldsync"

	"github.com/google/uuid"
)

// Kind is the type of a declared field.
type Kind int

// Field kinds.
const (
	String     Kind = iota // string of at most Max characters (DefaultMaxString when 0)
	Enum                   // one of Values
	Int                    // integer in [Min, Max] when Min < Max
	Number                 // number in [Min, Max] when Min < Max
	Bool                   // true or false
	Time                   // RFC 3339 time with zone, kept as given
	UUID                   // a UUID string
	UUIDList               // list of UUIDs (at most MaxItems)
	StringList             // list of strings of at most Max characters each
	GPS                    // {lat, lng, accuracy?}
	Media                  // a media id (UUID); cited media
	MediaList              // list of media ids; cited media
	ObjectList             // list of objects described by Item
)

var kindNames = [...]string{"string", "enum", "integer", "number", "boolean", "time", "uuid", "uuid list",
	"string list", "gps", "media id", "media id list", "object list"}

func (k Kind) String() string { return kindNames[k] }

// Limits of pushed values. String lengths count characters (Unicode code
// points), as the staff who write Chinese count them: 4,000 characters are
// 4,000 to 16,000 bytes of UTF-8. Bytes are bounded once, for the whole push
// (MaxPushBytes).
const (
	// DefaultMaxString bounds a string field without its own Max (characters).
	DefaultMaxString = 4000
	// DefaultMaxItems bounds a list field without its own MaxItems.
	DefaultMaxItems = 200
)

// Field declares one field of a collection.
type Field struct {
	Name string
	Kind Kind
	// Max bounds a string's length in characters (Unicode code points), or a
	// number's value (with Min, when Min < Max).
	Max, Min float64
	// MaxItems bounds a list's length.
	MaxItems int
	// Values are an enum's allowed values.
	Values []string
	// Item declares the fields of an ObjectList element.
	Item []Field
	// Client fields may be set by a phone in create and update; the others only
	// by the server (actions, computed fields).
	Client bool
	// Required fields must be given on create.
	Required bool
	// Immutable fields are set on create only.
	Immutable bool
	// AppendOnly list fields merge as set unions: an update adds elements, never
	// removes any, and never conflicts.
	AppendOnly bool
	// Default is the value a new record gets when the create does not set the field.
	Default any
	// Assignee fields (UUID or UUIDList) name the users the record is assigned
	// to: they feed fieldsync.RecordRef.AssigneeIDs and so the scope rule.
	Assignee bool
	// Queried fields are also stored as plain values under "f" in the record
	// document, where database queries (the reports) filter and group on them.
	// Every field is stored packed (see Record.Packed), which is what the
	// engine reads.
	Queried bool
}

// validName is the rule for every field and argument name.
func validName(n string) bool {
	return n != "" && len(n) <= 64 && !strings.HasPrefix(n, "$") && !strings.Contains(n, ".")
}

// decode validates raw against f and returns its stored value: string,
// float64, int64, bool, []any, map[string]any, or nil (JSON null clears).
func (f *Field) decode(name string, raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if bytes.Equal(raw, []byte("null")) {
		if f.Required || f.AppendOnly {
			return nil, fieldsync.FieldErrorf(name, "may not be null")
		}
		return nil, nil
	}
	if s, ok := plainString(raw); ok {
		return f.check(name, s)
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fieldsync.FieldErrorf(name, "malformed value")
	}
	return f.check(name, v)
}

// plainString reads a JSON string without escapes (most values a phone
// sends) without a decoder: ok is false for anything else, which the decoder
// then reads (and refuses if malformed).
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	for _, b := range in {
		if b < 0x20 || b == '"' || b == '\\' {
			return "", false
		}
	}
	if !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

func wrongType(name string, k Kind) error {
	return fieldsync.FieldErrorf(name, "wrong type: want %s", k)
}

// check validates a decoded JSON value (json.Number for numbers).
func (f *Field) check(name string, v any) (any, error) {
	switch f.Kind {
	case String, Time, UUID, Media, Enum:
		s, ok := v.(string)
		if !ok {
			return nil, wrongType(name, f.Kind)
		}
		return f.checkString(name, s)
	case Int, Number:
		n, ok := v.(json.Number)
		if !ok {
			return nil, wrongType(name, f.Kind)
		}
		x, err := n.Float64()
		if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, wrongType(name, f.Kind)
		}
		if f.Min < f.Max && (x < f.Min || x > f.Max) {
			return nil, fieldsync.FieldErrorf(name, "out of range [%g, %g]", f.Min, f.Max)
		}
		if f.Kind == Int {
			if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
				return nil, wrongType(name, f.Kind)
			}
			return int64(x), nil
		}
		return x, nil
	case Bool:
		b, ok := v.(bool)
		if !ok {
			return nil, wrongType(name, f.Kind)
		}
		return b, nil
	case GPS:
		return checkGPS(name, v)
	case UUIDList, StringList, MediaList, ObjectList:
		list, ok := v.([]any)
		if !ok {
			return nil, wrongType(name, f.Kind)
		}
		max := f.MaxItems
		if max <= 0 {
			max = DefaultMaxItems
		}
		if len(list) > max {
			return nil, fieldsync.FieldErrorf(name, "more than %d items", max)
		}
		out := make([]any, len(list))
		for i, e := range list {
			en := fmt.Sprintf("%s[%d]", name, i)
			var err error
			if f.Kind == ObjectList {
				out[i], err = checkObject(en, f.Item, e)
			} else {
				s, ok := e.(string)
				if !ok {
					return nil, wrongType(en, f.Kind)
				}
				out[i], err = f.checkString(en, s)
			}
			if err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, wrongType(name, f.Kind)
}

func (f *Field) checkString(name, s string) (any, error) {
	if !utf8.ValidString(s) {
		return nil, fieldsync.FieldErrorf(name, "not valid UTF-8")
	}
	switch f.Kind {
	case Enum:
		if !slices.Contains(f.Values, s) {
			return nil, fieldsync.FieldErrorf(name, "must be one of %s", strings.Join(f.Values, ", "))
		}
	case Time:
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return nil, fieldsync.FieldErrorf(name, "want an RFC 3339 time with zone")
		}
	case UUID, UUIDList, Media, MediaList:
		if _, err := uuid.Parse(s); err != nil || len(s) != 36 {
			return nil, fieldsync.FieldErrorf(name, "want a UUID")
		}
		return strings.ToLower(s), nil
	default:
		max := int(f.Max)
		if max <= 0 {
			max = DefaultMaxString
		}
		// Characters, not bytes (a string of no more bytes than max needs no count).
		if len(s) > max && utf8.RuneCountInString(s) > max {
			return nil, fieldsync.FieldErrorf(name, "longer than %d characters", max)
		}
	}
	return s, nil
}

func checkGPS(name string, v any) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, wrongType(name, GPS)
	}
	out := map[string]any{}
	for k, x := range m {
		lim, ok := map[string][2]float64{"lat": {-90, 90}, "lng": {-180, 180}, "accuracy": {0, 1e6}}[k]
		if !ok {
			return nil, fieldsync.FieldErrorf(name+"."+k, "unknown field")
		}
		n, ok := x.(json.Number)
		if !ok {
			return nil, wrongType(name+"."+k, Number)
		}
		f, err := n.Float64()
		if err != nil || f < lim[0] || f > lim[1] {
			return nil, fieldsync.FieldErrorf(name+"."+k, "out of range [%g, %g]", lim[0], lim[1])
		}
		out[k] = f
	}
	if _, ok := out["lat"]; !ok {
		return nil, fieldsync.FieldErrorf(name+".lat", "required")
	}
	if _, ok := out["lng"]; !ok {
		return nil, fieldsync.FieldErrorf(name+".lng", "required")
	}
	return out, nil
}

func checkObject(name string, fields []Field, v any) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, wrongType(name, ObjectList)
	}
	out := make(map[string]any, len(m))
	for k, x := range m {
		f := findField(fields, k)
		if f == nil || !validName(k) {
			return nil, fieldsync.FieldErrorf(name+"."+k, "unknown field")
		}
		if x == nil {
			continue
		}
		y, err := f.check(name+"."+k, x)
		if err != nil {
			return nil, err
		}
		out[k] = y
	}
	for i := range fields {
		if _, ok := out[fields[i].Name]; !ok && fields[i].Required {
			return nil, fieldsync.FieldErrorf(name+"."+fields[i].Name, "required")
		}
	}
	return out, nil
}

func findField(fields []Field, name string) *Field {
	for i := range fields {
		if fields[i].Name == name {
			return &fields[i]
		}
	}
	return nil
}
