package mongodb_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// referenceSJSON reads FerretDB v1.24.2's stored text the way FerretDB
// does (internal/handler/sjson: encoding/json into raw messages, a schema
// struct, one strict decoder a value) and marshals what it reads as BSON:
// the fuzz test's independent reading of the format.
func referenceSJSON(b []byte) ([]byte, error) {
	var v map[string]json.RawMessage
	if err := strictJSON(b, &v, false); err != nil {
		return nil, err
	}
	jsch, ok := v["$s"]
	if !ok {
		return nil, errors.New("schema is not set")
	}
	var sch refSchema
	if err := strictJSON(jsch, &sch, true); err != nil {
		return nil, err
	}
	delete(v, "$s")
	if len(sch.Keys) != len(v) {
		return nil, errors.New("keys and fields differ")
	}
	d := bson.D{}
	for _, k := range sch.Keys {
		raw, ok := v[k]
		if !ok {
			return nil, fmt.Errorf("missing key %q", k)
		}
		x, err := refValue(raw, sch.Properties[k])
		if err != nil {
			return nil, err
		}
		d = append(d, bson.E{Key: k, Value: x})
	}
	return bson.Marshal(d)
}

type refSchema struct {
	Properties map[string]*refElem `json:"p"`
	Keys       []string            `json:"$k"`
}

type refElem struct {
	Type    string     `json:"t"`
	Schema  *refSchema `json:"$s,omitempty"`
	Options *string    `json:"o,omitempty"`
	Items   []*refElem `json:"i,omitempty"`
	Subtype *byte      `json:"s,omitempty"`
}

// strictJSON decodes b into v refusing anything after the value (FerretDB's checkConsumed).
func strictJSON(b []byte, v any, disallowUnknown bool) error {
	r := bytes.NewReader(b)
	dec := json.NewDecoder(r)
	if disallowUnknown {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return err
	}
	if rest, _ := io.ReadAll(dec.Buffered()); len(rest) != 0 || r.Len() != 0 {
		return errors.New("bytes remain")
	}
	return nil
}

func refValue(data json.RawMessage, sch *refElem) (any, error) {
	if bytes.Equal(data, []byte("null")) {
		return nil, nil
	}
	if sch == nil {
		return nil, errors.New("schema is not set")
	}
	switch sch.Type {
	case "object":
		if sch.Schema == nil {
			return nil, errors.New("object schema is not set")
		}
		var m map[string]json.RawMessage
		if err := strictJSON(data, &m, false); err != nil {
			return nil, err
		}
		d := bson.D{}
		if len(m) == 0 {
			return d, nil
		}
		if len(sch.Schema.Keys) != len(m) {
			return nil, errors.New("keys and fields differ")
		}
		for _, k := range sch.Schema.Keys {
			raw, ok := m[k]
			if !ok {
				return nil, fmt.Errorf("missing key %q", k)
			}
			x, err := refValue(raw, sch.Schema.Properties[k])
			if err != nil {
				return nil, err
			}
			d = append(d, bson.E{Key: k, Value: x})
		}
		return d, nil
	case "array":
		if sch.Items == nil {
			return nil, errors.New("items are not set")
		}
		var raws []json.RawMessage
		if err := strictJSON(data, &raws, false); err != nil {
			return nil, err
		}
		if len(raws) != len(sch.Items) {
			return nil, errors.New("items and values differ")
		}
		a := bson.A{}
		for i, raw := range raws {
			x, err := refValue(raw, sch.Items[i])
			if err != nil {
				return nil, err
			}
			a = append(a, x)
		}
		return a, nil
	case "double":
		var f float64
		return decoded(&f, strictJSON(data, &f, true))
	case "string":
		var s string
		return decoded(&s, strictJSON(data, &s, false))
	case "binData":
		var b []byte
		if err := strictJSON(data, &b, true); err != nil {
			return nil, err
		}
		if sch.Subtype == nil {
			return nil, errors.New("no subtype")
		}
		return bson.Binary{Subtype: *sch.Subtype, Data: b}, nil
	case "objectId":
		var s string
		if err := strictJSON(data, &s, true); err != nil {
			return nil, err
		}
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 12 {
			return nil, errors.New("bad objectId")
		}
		return bson.ObjectID(b), nil
	case "bool":
		var x bool
		return decoded(&x, strictJSON(data, &x, false))
	case "date":
		var ms int64
		if err := strictJSON(data, &ms, true); err != nil {
			return nil, err
		}
		return bson.DateTime(ms), nil
	case "regex":
		var s string
		if err := strictJSON(data, &s, true); err != nil {
			return nil, err
		}
		if sch.Options == nil {
			return nil, errors.New("no options")
		}
		// As stored: the driver's Regex would sort the options.
		return bson.RawValue{Type: bson.TypeRegex, Value: bsoncore.AppendRegex(nil, s, *sch.Options)}, nil
	case "int":
		var x int32
		return decoded(&x, strictJSON(data, &x, false))
	case "timestamp":
		var x uint64
		if err := strictJSON(data, &x, true); err != nil {
			return nil, err
		}
		return bson.Timestamp{T: uint32(x >> 32), I: uint32(x)}, nil
	case "long":
		var x int64
		return decoded(&x, strictJSON(data, &x, true))
	}
	return nil, fmt.Errorf("unhandled type %q", sch.Type)
}

// decoded is *p, or err.
func decoded[T any](p *T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return *p, nil
}
