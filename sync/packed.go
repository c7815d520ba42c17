package sync

import (
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// decodePacked reads a Record.Packed document straight from its bytes into
// p, with the field values already in the engine's JSON-native form (what
// normalize makes of the driver's generic decoding): every pull and load
// decodes one per record, and the generic path allocated a reader and a
// map per nested document each time.
func decodePacked(b bson.Raw, p *packed) error {
	elems, err := b.Elements()
	if err != nil {
		return err
	}
	for _, e := range elems {
		v := e.Value()
		switch e.Key() {
		case "i":
			p.ID, _ = v.StringValueOK()
		case "cb":
			p.CreatedBy, _ = v.StringValueOK()
		case "ub":
			p.UpdatedBy, _ = v.StringValueOK()
		case "cbn":
			p.CreatedByName, _ = v.StringValueOK()
		case "ubn":
			p.UpdatedByName, _ = v.StringValueOK()
		case "ah":
			p.AuditHash, _ = v.StringValueOK()
		case "aa":
			if ms, ok := v.DateTimeOK(); ok {
				p.AuditAt = time.UnixMilli(ms).UTC()
			}
		case "ua":
			if ms, ok := v.DateTimeOK(); ok {
				p.UpdatedAt = time.UnixMilli(ms).UTC()
			}
		case "f":
			doc, ok := v.DocumentOK()
			if !ok {
				continue
			}
			m, err := nativeDoc(doc)
			if err != nil {
				return err
			}
			p.Fields = m
		case "fv":
			if p.FieldVersions, err = mapOf(v, intOf); err != nil {
				return err
			}
		case "fd":
			if p.FieldDevices, err = mapOf(v, stringOf); err != nil {
				return err
			}
		case "m":
			arr, _ := v.ArrayOK()
			vals, err := arr.Values()
			if err != nil {
				return err
			}
			p.Receipts = make([]Receipt, 0, len(vals))
			for _, rv := range vals {
				doc, _ := rv.DocumentOK()
				mid, _ := doc.Lookup("i").StringValueOK()
				st, _ := doc.Lookup("s").StringValueOK()
				p.Receipts = append(p.Receipts, Receipt{MutationID: mid, Status: st, Version: intOf(doc.Lookup("v"))})
			}
		}
	}
	return nil
}

// mapOf reads the document v into a map, each value through conv.
func mapOf[T any](v bson.RawValue, conv func(bson.RawValue) T) (map[string]T, error) {
	doc, _ := v.DocumentOK()
	elems, err := doc.Elements()
	if err != nil {
		return nil, err
	}
	m := make(map[string]T, len(elems))
	for _, x := range elems {
		m[x.Key()] = conv(x.Value())
	}
	return m, nil
}

func stringOf(v bson.RawValue) string {
	s, _ := v.StringValueOK()
	return s
}

func intOf(v bson.RawValue) int64 {
	switch v.Type {
	case bson.TypeInt64:
		return v.Int64()
	case bson.TypeInt32:
		return int64(v.Int32())
	case bson.TypeDouble:
		return int64(v.Double())
	}
	return 0
}

func nativeDoc(doc bson.Raw) (map[string]any, error) {
	elems, err := doc.Elements()
	if err != nil {
		return nil, err
	}
	m := make(map[string]any, len(elems))
	for _, e := range elems {
		v, err := native(e.Value())
		if err != nil {
			return nil, err
		}
		m[e.Key()] = v
	}
	return m, nil
}

// native converts one BSON value to the engine's form: string, float64,
// int64, bool, nil, []any, map[string]any; a date as an RFC 3339 string.
func native(v bson.RawValue) (any, error) {
	switch v.Type {
	case bson.TypeString:
		return v.StringValue(), nil
	case bson.TypeDouble:
		return v.Double(), nil
	case bson.TypeInt32:
		return int64(v.Int32()), nil
	case bson.TypeInt64:
		return v.Int64(), nil
	case bson.TypeBoolean:
		return v.Boolean(), nil
	case bson.TypeNull, bson.TypeUndefined:
		return nil, nil
	case bson.TypeDateTime:
		return time.UnixMilli(v.DateTime()).UTC().Format(time.RFC3339Nano), nil
	case bson.TypeEmbeddedDocument:
		return nativeDoc(v.Document())
	case bson.TypeArray:
		vals, err := v.Array().Values()
		if err != nil {
			return nil, err
		}
		out := make([]any, len(vals))
		for i, x := range vals {
			if out[i], err = native(x); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	// Anything else the engine never writes: the driver's generic decoding.
	var x any
	if err := v.Unmarshal(&x); err != nil {
		return nil, fmt.Errorf("sync: field of BSON type %s: %w", v.Type, err)
	}
	return normalize(x), nil
}
