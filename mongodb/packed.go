package mongodb

import (
	"fmt"
	"time"

	fsync "fieldsync/sync"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// decodeRecord reads a stored record: the readable layout (layout.go), or
// one of the layouts earlier versions wrote (packed, and before it plain
// with short names), which the migration at start rewrites. Its maps are
// never nil and its times are UTC.
func decodeRecord(raw bson.Raw) (*fsync.Record, error) {
	r := new(fsync.Record)
	if _, err := raw.LookupErr(keySync); err == nil {
		if err := decodeStored(raw, r); err != nil {
			return nil, err
		}
		return finishRecord(r), nil
	}
	var old recordV1
	if err := bson.Unmarshal(raw, &old); err != nil {
		return nil, err
	}
	*r = fsync.Record{Key: old.Key, Tenant: old.Tenant, Collection: old.Collection, SiteID: old.SiteID,
		Version: old.Version, Pos: old.Pos, Deleted: old.Deleted, CreatedAt: old.CreatedAt,
		UpdatedDevice: old.UpdatedDevice, Assignees: old.Assignees, Former: old.Former, Media: old.Media}
	if r.Collection == "" {
		r.Collection = collOfKey(r.Key)
	}
	if err := old.unpack(r); err != nil {
		return nil, err
	}
	return finishRecord(r), nil
}

// finishRecord makes a decoded record ready for the engine: its maps never
// nil, its times UTC.
func finishRecord(r *fsync.Record) *fsync.Record {
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
	return r
}

// legacyReceipt is a receipt as the layouts before the readable one stored it.
type legacyReceipt struct {
	MutationID string `bson:"i"`
	Status     string `bson:"s"`
	Version    int64  `bson:"v"`
}

func receiptsOf(l []legacyReceipt) []fsync.Receipt {
	if l == nil {
		return nil
	}
	out := make([]fsync.Receipt, len(l))
	for i, x := range l {
		out[i] = fsync.Receipt{MutationID: x.MutationID, Status: x.Status, Version: x.Version}
	}
	return out
}

// recordV1 is a record as versions before the readable layout stored it:
// short names, and everything no query filtered on packed in one binary value.
type recordV1 struct {
	Key           string         `bson:"_id"`
	Tenant        string         `bson:"t"`
	Collection    string         `bson:"c"`
	SiteID        string         `bson:"s"`
	Version       int64          `bson:"v"`
	Pos           int64          `bson:"p"`
	Deleted       bool           `bson:"del"`
	CreatedAt     time.Time      `bson:"ca"`
	UpdatedDevice string         `bson:"ud"`
	Assignees     []string       `bson:"asg,omitempty"`
	Former        []string       `bson:"ex,omitempty"`
	Media         []string       `bson:"med,omitempty"`
	Queried       map[string]any `bson:"f,omitempty"`
	Packed        []byte         `bson:"b,omitempty"`
	Legacy        legacyFields   `bson:",inline"`
}

// legacyFields are the top-level fields of records stored before the packed form.
type legacyFields struct {
	ID            string            `bson:"i,omitempty"`
	CreatedBy     string            `bson:"cb,omitempty"`
	UpdatedAt     time.Time         `bson:"ua,omitempty"`
	UpdatedBy     string            `bson:"ub,omitempty"`
	FieldVersions map[string]int64  `bson:"fv,omitempty"`
	FieldDevices  map[string]string `bson:"fd,omitempty"`
	Receipts      []legacyReceipt   `bson:"m,omitempty"`
}

// packed is what recordV1.Packed holds (BSON).
type packed struct {
	ID            string            `bson:"i"`
	CreatedBy     string            `bson:"cb"`
	UpdatedAt     time.Time         `bson:"ua"`
	UpdatedBy     string            `bson:"ub"`
	Fields        map[string]any    `bson:"f"`
	FieldVersions map[string]int64  `bson:"fv,omitempty"`
	FieldDevices  map[string]string `bson:"fd,omitempty"`
	Receipts      []legacyReceipt   `bson:"m,omitempty"`
	CreatedByName string            `bson:"cbn,omitempty"`
	UpdatedByName string            `bson:"ubn,omitempty"`
	AuditHash     string            `bson:"ah,omitempty"`
	AuditAt       time.Time         `bson:"aa,omitempty"`
}

// unpack restores into r the fields of a record of an earlier layout.
func (o *recordV1) unpack(r *fsync.Record) error {
	var p packed
	if o.Packed != nil {
		if err := decodePacked(o.Packed, &p); err != nil {
			return fmt.Errorf("mongodb: unpack %s: %w", o.Key, err)
		}
	} else {
		l := o.Legacy
		p.Fields, p.FieldVersions, p.FieldDevices, p.Receipts = o.Queried, l.FieldVersions, l.FieldDevices, l.Receipts
		for k, v := range p.Fields {
			p.Fields[k] = fromBSON(v)
		}
	}
	if p.ID == "" {
		p.ID, p.CreatedBy, p.UpdatedAt, p.UpdatedBy = o.Legacy.ID, o.Legacy.CreatedBy, o.Legacy.UpdatedAt, o.Legacy.UpdatedBy
	}
	r.ID, r.CreatedBy, r.UpdatedAt, r.UpdatedBy = p.ID, p.CreatedBy, p.UpdatedAt, p.UpdatedBy
	r.Fields, r.FieldVersions, r.FieldDevices, r.Receipts = p.Fields, p.FieldVersions, p.FieldDevices, receiptsOf(p.Receipts)
	r.CreatedByName, r.UpdatedByName = p.CreatedByName, p.UpdatedByName
	r.AuditHash, r.AuditAt = p.AuditHash, p.AuditAt
	return nil
}

// decodePacked reads a recordV1.Packed document straight from its bytes
// into p, with the field values already in the engine's JSON-native form
// (what fromBSON makes of the driver's generic decoding).
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
			p.Receipts = make([]legacyReceipt, 0, len(vals))
			for _, rv := range vals {
				doc, _ := rv.DocumentOK()
				mid, _ := doc.Lookup("i").StringValueOK()
				st, _ := doc.Lookup("s").StringValueOK()
				p.Receipts = append(p.Receipts, legacyReceipt{MutationID: mid, Status: st, Version: intOf(doc.Lookup("v"))})
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
		if g, ok := geoPoint(v.Document()); ok {
			return g, nil
		}
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
		return nil, fmt.Errorf("mongodb: field of BSON type %s: %w", v.Type, err)
	}
	return fromBSON(x), nil
}

// fromBSON turns a value of the driver's generic decoding into the engine's
// JSON-native form (fsync.Normalize).
func fromBSON(v any) any {
	switch x := v.(type) {
	case bson.A:
		return fromBSON([]any(x))
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = fromBSON(e)
		}
		return out
	case bson.D:
		m := make(map[string]any, len(x))
		for _, e := range x {
			m[e.Key] = fromBSON(e.Value)
		}
		return m
	case bson.M:
		return fromBSON(map[string]any(x))
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = fromBSON(e)
		}
		return m
	case bson.DateTime:
		return x.Time().UTC().Format(time.RFC3339Nano)
	}
	return fsync.Normalize(v)
}
