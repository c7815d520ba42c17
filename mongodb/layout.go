package mongodb

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	fsync "fieldsync/sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// The stored document of a record (docs/DATA-MODEL.md): one database
// collection per synced collection, named after it; the record's fields under
// their own names with their BSON types (times as dates, GPS as GeoJSON
// points), who and when at the top, and the sync bookkeeping in one "_sync"
// subdocument:
//
//	{_id: "tenant/inspections/<id>", id, tenant_id, site_id, category, …,
//	 observed_at: ISODate, gps: {type: "Point", coordinates: [lng, lat], accuracy},
//	 created_at: ISODate, created_by, created_by_name, updated_at, updated_by, updated_by_name,
//	 _sync: {version, position, deleted, device, assignees, former_assignees, media,
//	         field_versions, field_devices, receipts: "<mutation id> <status> <version>\n…",
//	         audit_hash, audit_at (when not updated_at), times: {<path>: "<text as the phone sent it>"}}}
//
// A time is kept as a date (what a query compares); when the text a phone
// sent is not the date's own UTC rendering (another offset, "+00:00", more
// than millisecond digits, trailing zeros), "_sync.times" keeps that text under
// the field's path ("observed_at", "scans/2/scanned_at": a key holds no dot), so the wire contract
// gives it back exactly as sent. Server-set times are UTC milliseconds and
// need no text.
const (
	keyID       = "id"
	keyTenant   = "tenant_id"
	keySite     = fsync.SiteField
	keyCreated  = "created_at"
	keySync     = "_sync"
	keyVersion  = keySync + ".version"
	keyPos      = keySync + ".position"
	keyDeleted  = keySync + ".deleted"
	keyDevice   = keySync + ".device"
	keyMedia    = keySync + ".media"
	keyAssigned = keySync + ".assignees"
	keyCreator  = "created_by"
)

// fieldNamed returns the field of fs named name, or nil.
func fieldNamed(fs []fsync.Field, name string) *fsync.Field {
	for i := range fs {
		if fs[i].Name == name {
			return &fs[i]
		}
	}
	return nil
}

// clientTimeFields are the undeclared fields holding a phone's times.
var clientTimeFields = []string{"client_created_at", "client_updated_at"}

// topLevel are the names the record's own bookkeeping takes at the top of its document.
var topLevel = []string{"_id", keyID, keyTenant, keySite, keyCreated, "created_by", "created_by_name",
	"updated_at", "updated_by", "updated_by_name", keySync}

// encodeRecord returns r's stored document (readable layout). coll types
// the fields (times, GPS); nil stores them as they are.
func encodeRecord(r *fsync.Record, coll *fsync.Collection) (bson.Raw, error) {
	b, err := appendDocument(make([]byte, 0, 1024), recordDoc(r, coll))
	if err != nil {
		return nil, fmt.Errorf("mongodb: encode %s: %w", r.Key, err)
	}
	return b, nil
}

// recordDoc is r's stored document before it is encoded.
func recordDoc(r *fsync.Record, coll *fsync.Collection) bson.D {
	times := map[string]string{}
	d := make(bson.D, 0, len(r.Fields)+12)
	d = append(d, bson.E{Key: "_id", Value: r.Key}, bson.E{Key: keyID, Value: r.ID},
		bson.E{Key: keyTenant, Value: r.Tenant}, bson.E{Key: keySite, Value: r.SiteID})
	done := map[string]bool{fsync.SiteField: true}
	if coll != nil {
		for i := range coll.Fields {
			f := &coll.Fields[i]
			v, ok := r.Fields[f.Name]
			if !ok || done[f.Name] {
				continue
			}
			done[f.Name] = true
			d = append(d, bson.E{Key: f.Name, Value: storeValue(f.Kind, f.Item, f.Name, v, times)})
		}
	}
	rest := make([]string, 0, len(r.Fields))
	for k := range r.Fields {
		if !done[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		if slices.Contains(topLevel, k) {
			continue
		}
		kind := fsync.Kind(-1)
		if slices.Contains(clientTimeFields, k) {
			kind = fsync.Time
		}
		d = append(d, bson.E{Key: k, Value: storeValue(kind, nil, k, r.Fields[k], times)})
	}
	d = append(d, bson.E{Key: keyCreated, Value: bson.NewDateTimeFromTime(r.CreatedAt)}, bson.E{Key: "created_by", Value: r.CreatedBy})
	if r.CreatedByName != "" {
		d = append(d, bson.E{Key: "created_by_name", Value: r.CreatedByName})
	}
	d = append(d, bson.E{Key: "updated_at", Value: bson.NewDateTimeFromTime(r.UpdatedAt)}, bson.E{Key: "updated_by", Value: r.UpdatedBy})
	if r.UpdatedByName != "" {
		d = append(d, bson.E{Key: "updated_by_name", Value: r.UpdatedByName})
	}
	s := bson.D{{Key: "version", Value: r.Version}, {Key: "position", Value: r.Pos}, {Key: "deleted", Value: r.Deleted}}
	if r.UpdatedDevice != "" {
		s = append(s, bson.E{Key: "device", Value: r.UpdatedDevice})
	}
	if len(r.Assignees) > 0 {
		s = append(s, bson.E{Key: "assignees", Value: r.Assignees})
	}
	if len(r.Former) > 0 {
		s = append(s, bson.E{Key: "former_assignees", Value: r.Former})
	}
	if len(r.Media) > 0 {
		s = append(s, bson.E{Key: "media", Value: r.Media})
	}
	if len(r.FieldVersions) > 0 {
		s = append(s, bson.E{Key: "field_versions", Value: r.FieldVersions})
	}
	if len(r.FieldDevices) > 0 {
		s = append(s, bson.E{Key: "field_devices", Value: r.FieldDevices})
	}
	if len(r.Receipts) > 0 {
		// One string, a line a receipt: up to 256 receipts as one value, not
		// 256 (or 768) that the embedded database would decode on every
		// scan of the record.
		var b strings.Builder
		for i, x := range r.Receipts {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(x.MutationID + " " + x.Status + " " + strconv.FormatInt(x.Version, 10))
		}
		s = append(s, bson.E{Key: "receipts", Value: b.String()})
	}
	if r.AuditHash != "" {
		s = append(s, bson.E{Key: "audit_hash", Value: r.AuditHash})
	}
	// The latest audit entry is almost always the last update's: its time
	// is then updated_at, and is not stored twice.
	if at := bson.NewDateTimeFromTime(r.AuditAt); !r.AuditAt.IsZero() && at != bson.NewDateTimeFromTime(r.UpdatedAt) {
		s = append(s, bson.E{Key: "audit_at", Value: at})
	}
	if len(times) > 0 {
		s = append(s, bson.E{Key: "times", Value: times})
	}
	return append(d, bson.E{Key: keySync, Value: s})
}

// appendDocument appends d as a BSON document: what bson.Marshal makes of
// it, with a type switch over the values a record holds instead of the
// driver's reflection (a push encodes every record it writes), except that
// a Go map's keys come out sorted (the driver takes them in Go's random map
// order). A value of any other type goes through the driver's encoder.
func appendDocument(dst []byte, d bson.D) ([]byte, error) {
	idx, dst := bsoncore.ReserveLength(dst)
	var err error
	for _, e := range d {
		if dst, err = appendElement(dst, e.Key, e.Value); err != nil {
			return nil, err
		}
	}
	return bsoncore.AppendDocumentEnd(dst, idx)
}

func appendElement(dst []byte, key string, v any) ([]byte, error) {
	if strings.IndexByte(key, 0) >= 0 {
		return nil, fmt.Errorf("mongodb: key %q holds a null byte", key)
	}
	switch x := v.(type) {
	case string:
		return bsoncore.AppendStringElement(dst, key, x), nil
	case float64:
		return bsoncore.AppendDoubleElement(dst, key, x), nil
	case int64:
		return bsoncore.AppendInt64Element(dst, key, x), nil
	case bool:
		return bsoncore.AppendBooleanElement(dst, key, x), nil
	case nil:
		return bsoncore.AppendNullElement(dst, key), nil
	case bson.DateTime:
		return bsoncore.AppendDateTimeElement(dst, key, int64(x)), nil
	case bson.D:
		idx, dst := bsoncore.AppendDocumentElementStart(dst, key)
		return appendElements(dst, idx, len(x), func(i int) (string, any) { return x[i].Key, x[i].Value })
	case map[string]any:
		if x != nil {
			keys := sortedKeys(x)
			idx, dst := bsoncore.AppendDocumentElementStart(dst, key)
			return appendElements(dst, idx, len(keys), func(i int) (string, any) { return keys[i], x[keys[i]] })
		}
	case map[string]string:
		if x != nil {
			keys := sortedKeys(x)
			idx, dst := bsoncore.AppendDocumentElementStart(dst, key)
			return appendElements(dst, idx, len(keys), func(i int) (string, any) { return keys[i], x[keys[i]] })
		}
	case map[string]int64:
		if x != nil {
			keys := sortedKeys(x)
			idx, dst := bsoncore.AppendDocumentElementStart(dst, key)
			return appendElements(dst, idx, len(keys), func(i int) (string, any) { return keys[i], x[keys[i]] })
		}
	case bson.A:
		if x != nil {
			idx, dst := bsoncore.AppendArrayElementStart(dst, key)
			return appendElements(dst, idx, len(x), func(i int) (string, any) { return strconv.Itoa(i), x[i] })
		}
	case []any:
		if x != nil {
			idx, dst := bsoncore.AppendArrayElementStart(dst, key)
			return appendElements(dst, idx, len(x), func(i int) (string, any) { return strconv.Itoa(i), x[i] })
		}
	case []string:
		if x != nil {
			idx, dst := bsoncore.AppendArrayElementStart(dst, key)
			return appendElements(dst, idx, len(x), func(i int) (string, any) { return strconv.Itoa(i), x[i] })
		}
	}
	t, b, err := bson.MarshalValue(v)
	if err != nil {
		return nil, err
	}
	return append(bsoncore.AppendHeader(dst, bsoncore.Type(t), key), b...), nil
}

// appendElements appends n elements (key and value of each from at) and
// ends the document or array begun at idx.
func appendElements(dst []byte, idx int32, n int, at func(int) (string, any)) ([]byte, error) {
	var err error
	for i := range n {
		k, v := at(i)
		if dst, err = appendElement(dst, k, v); err != nil {
			return nil, err
		}
	}
	return bsoncore.AppendDocumentEnd(dst, idx)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// storeValue is a field's value as stored: a Time as a date (its text in
// times when the date does not render it), a GPS as a GeoJSON point, the
// elements of an object list field by field; anything else as it is.
func storeValue(kind fsync.Kind, item []fsync.Field, path string, v any, times map[string]string) any {
	switch kind {
	case fsync.Time:
		s, ok := v.(string)
		if !ok {
			return v
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return v
		}
		dt := bson.NewDateTimeFromTime(t)
		if dateText(dt) != s {
			times[path] = s
		}
		return dt
	case fsync.GPS:
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		lat, ok1 := m["lat"].(float64)
		lng, ok2 := m["lng"].(float64)
		if !ok1 || !ok2 || len(m) > 3 {
			return v
		}
		p := bson.D{{Key: "type", Value: "Point"}, {Key: "coordinates", Value: bson.A{lng, lat}}}
		if a, ok := m["accuracy"]; ok {
			p = append(p, bson.E{Key: "accuracy", Value: a})
		} else if len(m) > 2 {
			return v
		}
		return p
	case fsync.ObjectList:
		list, ok := v.([]any)
		if !ok {
			return v
		}
		out := make(bson.A, len(list))
		for i, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				out[i] = e
				continue
			}
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			o := make(bson.D, 0, len(m))
			for _, k := range keys {
				ik := fsync.Kind(-1)
				var sub []fsync.Field
				if f := fieldNamed(item, k); f != nil {
					ik, sub = f.Kind, f.Item
				}
				o = append(o, bson.E{Key: k, Value: storeValue(ik, sub, path+"/"+strconv.Itoa(i)+"/"+k, m[k], times)})
			}
			out[i] = o
		}
		return out
	}
	return v
}

// dateText is how a stored date reads back without a kept text.
func dateText(dt bson.DateTime) string {
	return time.UnixMilli(int64(dt)).UTC().Format(time.RFC3339Nano)
}

// decodeStored reads a record document of the readable layout into r.
func decodeStored(b bson.Raw, r *fsync.Record) error {
	elems, err := b.Elements()
	if err != nil {
		return err
	}
	r.Fields = make(map[string]any, len(elems))
	var times bson.Raw
	for _, e := range elems {
		v := e.Value()
		switch k := e.Key(); k {
		case "_id":
			r.Key, _ = v.StringValueOK()
		case keyID:
			r.ID, _ = v.StringValueOK()
		case keyTenant:
			r.Tenant, _ = v.StringValueOK()
		case keySite:
			r.SiteID, _ = v.StringValueOK()
			r.Fields[fsync.SiteField] = r.SiteID
		case keyCreated:
			r.CreatedAt = dateOf(v)
		case "created_by":
			r.CreatedBy, _ = v.StringValueOK()
		case "created_by_name":
			r.CreatedByName, _ = v.StringValueOK()
		case "updated_at":
			r.UpdatedAt = dateOf(v)
		case "updated_by":
			r.UpdatedBy, _ = v.StringValueOK()
		case "updated_by_name":
			r.UpdatedByName, _ = v.StringValueOK()
		case keySync:
			if times, err = decodeSync(v.Document(), r); err != nil {
				return err
			}
		default:
			x, err := native(v)
			if err != nil {
				return err
			}
			r.Fields[k] = x
		}
	}
	r.Collection = collOfKey(r.Key)
	if r.AuditHash != "" && r.AuditAt.IsZero() {
		r.AuditAt = r.UpdatedAt
	}
	if times != nil {
		elems, err := times.Elements()
		if err != nil {
			return err
		}
		for _, e := range elems {
			if s, ok := e.Value().StringValueOK(); ok {
				setPath(r.Fields, e.Key(), s)
			}
		}
	}
	return nil
}

func decodeSync(doc bson.Raw, r *fsync.Record) (times bson.Raw, err error) {
	elems, err := doc.Elements()
	if err != nil {
		return nil, err
	}
	for _, e := range elems {
		v := e.Value()
		switch e.Key() {
		case "version":
			r.Version = intOf(v)
		case "position":
			r.Pos = intOf(v)
		case "deleted":
			r.Deleted, _ = v.BooleanOK()
		case "device":
			r.UpdatedDevice, _ = v.StringValueOK()
		case "assignees":
			r.Assignees, err = stringsOfRaw(v)
		case "former_assignees":
			r.Former, err = stringsOfRaw(v)
		case "media":
			r.Media, err = stringsOfRaw(v)
		case "field_versions":
			r.FieldVersions, err = mapOf(v, intOf)
		case "field_devices":
			r.FieldDevices, err = mapOf(v, stringOf)
		case "receipts":
			rs, _ := receiptLines(v)
			r.Receipts = make([]fsync.Receipt, 0, len(rs))
			for _, s := range rs {
				rest, ver, _ := cutLast(s)
				mid, st, _ := cutLast(rest)
				n, _ := strconv.ParseInt(ver, 10, 64)
				r.Receipts = append(r.Receipts, fsync.Receipt{MutationID: mid, Status: st, Version: n})
			}
		case "audit_hash":
			r.AuditHash, _ = v.StringValueOK()
		case "audit_at":
			r.AuditAt = dateOf(v)
		case "times":
			times, _ = v.DocumentOK()
		}
		if err != nil {
			return nil, err
		}
	}
	return times, nil
}

// receiptLines reads _sync.receipts: one string, a line a receipt.
func receiptLines(v bson.RawValue) ([]string, bool) {
	s, ok := v.StringValueOK()
	if !ok || s == "" {
		return nil, ok
	}
	return strings.Split(s, "\n"), true
}

func cutLast(s string) (string, string, bool) {
	i := strings.LastIndexByte(s, ' ')
	if i < 0 {
		return "", s, false
	}
	return s[:i], s[i+1:], true
}

func dateOf(v bson.RawValue) time.Time {
	if ms, ok := v.DateTimeOK(); ok {
		return time.UnixMilli(ms).UTC()
	}
	return time.Time{}
}

func stringsOfRaw(v bson.RawValue) ([]string, error) {
	arr, ok := v.ArrayOK()
	if !ok {
		return nil, nil
	}
	vals, err := arr.Values()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(vals))
	for _, x := range vals {
		if s, ok := x.StringValueOK(); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// setPath sets the value at a path (field, or list/index/field) of fields.
func setPath(fields map[string]any, path string, v any) {
	parts := strings.Split(path, "/")
	var cur any = fields
	for i, p := range parts {
		last := i == len(parts)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				if _, ok := c[p]; ok {
					c[p] = v
				}
				return
			}
			cur = c[p]
		case []any:
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n >= len(c) {
				return
			}
			if last {
				c[n] = v
				return
			}
			cur = c[n]
		default:
			return
		}
	}
}

// geoPoint reads a GeoJSON point stored for a GPS field back as {lat, lng, accuracy?}.
func geoPoint(doc bson.Raw) (map[string]any, bool) {
	elems, err := doc.Elements()
	if err != nil || len(elems) < 2 || len(elems) > 3 {
		return nil, false
	}
	out := map[string]any{}
	for _, e := range elems {
		v := e.Value()
		switch e.Key() {
		case "type":
			if s, _ := v.StringValueOK(); s != "Point" {
				return nil, false
			}
		case "coordinates":
			arr, ok := v.ArrayOK()
			if !ok {
				return nil, false
			}
			vals, err := arr.Values()
			if err != nil || len(vals) != 2 {
				return nil, false
			}
			lng, ok1 := vals[0].DoubleOK()
			lat, ok2 := vals[1].DoubleOK()
			if !ok1 || !ok2 {
				return nil, false
			}
			out["lat"], out["lng"] = lat, lng
		case "accuracy":
			a, ok := v.DoubleOK()
			if !ok {
				return nil, false
			}
			out["accuracy"] = a
		default:
			return nil, false
		}
	}
	_, ok := out["lat"]
	return out, ok
}
