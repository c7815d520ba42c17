//go:build !noembed

package mongodb

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// The embedded FerretDB (v1.24.2, internal/handler/sjson) keeps each
// document as one JSON text, its types in a schema under "$s" ahead of the
// values:
//
//	{"$s":{"p":{"<key>":<elem>,…},"$k":["<key>",…]},"<key>":<value>,…}
//	<elem>: {"t":"object","$s":<schema>} | {"t":"array","i":[<elem>,…]} |
//	        {"t":"binData","s":<subtype>} | {"t":"regex","o":"<options>"} |
//	        {"t":"double"|"string"|"objectId"|"bool"|"date"|"null"|"int"|"timestamp"|"long"}
//
// A date is its Unix milliseconds, an objectId its hex, binData its base64,
// a timestamp its uint64, a regex its pattern; a null is null whatever its
// elem says; an empty document's schema is {}. sjsonToBSON turns such a
// text into the BSON FerretDB would send for it, or fails on anything it
// does not recognise (the caller then reads the document through FerretDB):
// it never guesses.

// errSJSON is what sjsonToBSON fails with.
var errSJSON = errors.New("mongodb: unrecognised FerretDB document")

// sjType is an elem's type.
type sjType uint8

const (
	sjObject sjType = iota + 1
	sjArray
	sjDouble
	sjString
	sjBinData
	sjObjectID
	sjBool
	sjDate
	sjNull
	sjRegex
	sjInt
	sjTimestamp
	sjLong
)

var sjTypes = map[string]sjType{
	"object": sjObject, "array": sjArray, "double": sjDouble, "string": sjString, "binData": sjBinData,
	"objectId": sjObjectID, "bool": sjBool, "date": sjDate, "null": sjNull, "regex": sjRegex,
	"int": sjInt, "timestamp": sjTimestamp, "long": sjLong,
}

// sjElem is the schema of one value.
type sjElem struct {
	typ     sjType
	doc     *sjSchema // object
	items   []*sjElem // array
	options string    // regex
	subtype byte      // binData
	// what the elem's JSON held (FerretDB refuses an object without $s,
	// an array without i, a regex without o, binData without s)
	hasDoc, hasItems, hasOptions, hasSubtype bool
}

// sjSchema is the schema of one document.
type sjSchema struct {
	keys  []string
	props map[string]*sjElem
}

// sjDecoder turns FerretDB's documents into BSON, remembering the schemas
// it has read (the records of one collection mostly share a handful).
type sjDecoder struct {
	schemas map[string]*sjSchema
	elems   map[string]*sjElem
}

// maxSchemas bounds the schemas (and elems) one decoder remembers.
const maxSchemas = 256

// sjsonToBSON is the BSON document of FerretDB's stored text b.
func (d *sjDecoder) sjsonToBSON(b []byte) (bson.Raw, error) {
	s := &sjScan{b: b}
	if !s.byte('{') {
		return nil, errSJSON
	}
	key, err := s.key()
	if err != nil || key != "$s" {
		return nil, errSJSON
	}
	start := s.skipSpace()
	if err := s.skip(); err != nil {
		return nil, err
	}
	raw := b[start:s.i]
	sch, ok := d.schemas[string(raw)]
	if !ok {
		if sch, err = (&sjScan{b: raw, dec: d}).schema(); err != nil {
			return nil, err
		}
		if d.schemas == nil || len(d.schemas) >= maxSchemas {
			d.schemas = map[string]*sjSchema{}
		}
		d.schemas[string(raw)] = sch
	}
	dst := make([]byte, 0, len(b))
	idx, dst := bsoncore.AppendDocumentStart(dst)
	for _, k := range sch.keys {
		if !s.byte(',') {
			return nil, errSJSON
		}
		if !s.keyIs(k) {
			return nil, errSJSON
		}
		if dst, err = s.value(dst, k, sch.props[k]); err != nil {
			return nil, err
		}
	}
	// FerretDB refuses anything after the document, white space too.
	if !s.byte('}') || s.i != len(b) {
		return nil, errSJSON
	}
	dst, err = bsoncore.AppendDocumentEnd(dst, idx)
	if err != nil {
		return nil, errSJSON
	}
	return dst, nil
}

// sjScan reads JSON text.
type sjScan struct {
	b   []byte
	i   int
	dec *sjDecoder // remembers the elems of objects and arrays read (nil: none)
}

// skipSpace moves past white space and returns where it stopped.
func (s *sjScan) skipSpace() int {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return s.i
		}
	}
	return s.i
}

// byte moves past c (after white space), reporting whether it was there.
func (s *sjScan) byte(c byte) bool {
	if s.skipSpace() < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// peek is the next byte after white space (0 at the end).
func (s *sjScan) peek() byte {
	if s.skipSpace() < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// rawString moves past a JSON string and returns it with its quotes.
func (s *sjScan) rawString() ([]byte, error) {
	if s.peek() != '"' {
		return nil, errSJSON
	}
	start := s.i
	for i := s.i + 1; ; {
		q := bytes.IndexByte(s.b[i:], '"')
		if q < 0 {
			return nil, errSJSON
		}
		i += q
		// The quote ends the string unless an odd run of backslashes escapes it.
		bs := 0
		for j := i - 1; j > start && s.b[j] == '\\'; j-- {
			bs++
		}
		i++
		if bs%2 == 0 {
			s.i = i
			return s.b[start:i], nil
		}
	}
}

// str reads a JSON string as encoding/json decodes it.
func (s *sjScan) str() (string, error) {
	raw, err := s.rawString()
	if err != nil {
		return "", err
	}
	if plain(raw) {
		return string(raw[1 : len(raw)-1]), nil
	}
	var out string
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", errSJSON
	}
	return out, nil
}

// plain reports whether the quoted JSON string raw is its own text: no
// escape, no control character, valid UTF-8 (encoding/json would replace
// what is not).
func plain(raw []byte) bool {
	inner := raw[1 : len(raw)-1]
	ascii := true
	for _, c := range inner {
		switch {
		case c < 0x20, c == '\\':
			return false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return ascii || utf8.Valid(inner)
}

// key reads an object's key and the colon after it.
func (s *sjScan) key() (string, error) {
	k, err := s.str()
	if err != nil || !s.byte(':') {
		return "", errSJSON
	}
	return k, nil
}

// keyIs reads an object's key and the colon after it, reporting whether
// the key is want.
func (s *sjScan) keyIs(want string) bool {
	raw, err := s.rawString()
	if err != nil || !s.byte(':') {
		return false
	}
	if plain(raw) {
		return string(raw[1:len(raw)-1]) == want
	}
	var k string
	return json.Unmarshal(raw, &k) == nil && k == want
}

// number moves past a JSON number and returns its text.
func (s *sjScan) number() (string, error) {
	start := s.skipSpace()
	b := s.b
	i := start
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() bool {
		from := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > from
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return "", errSJSON
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return "", errSJSON
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return "", errSJSON
		}
	}
	s.i = i
	return string(b[start:i]), nil
}

// literal moves past word when it comes next.
func (s *sjScan) literal(word string) bool {
	if s.skipSpace()+len(word) <= len(s.b) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// skip moves past one JSON value (checking only that its brackets and
// strings close: what it skips is read again by schema).
func (s *sjScan) skip() error {
	switch s.peek() {
	case '"':
		_, err := s.rawString()
		return err
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, err := s.rawString(); err != nil {
					return err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return nil
				}
			}
			s.i++
		}
		return errSJSON
	}
	return errSJSON // a schema is an object
}

// members reads a JSON object, calling fn after each member's key (fn
// reads the value).
func (s *sjScan) members(fn func(key string) error) error {
	if !s.byte('{') {
		return errSJSON
	}
	for first := true; !s.byte('}'); first = false {
		if !first && !s.byte(',') {
			return errSJSON
		}
		k, err := s.key()
		if err != nil {
			return err
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

// once refuses the member k of a schema or elem a second time (FerretDB
// would keep the last).
func once(seen *uint8, bit uint8) error {
	if *seen&bit != 0 {
		return errSJSON
	}
	*seen |= bit
	return nil
}

// elements reads a JSON array, calling fn to read each element.
func (s *sjScan) elements(fn func() error) error {
	if !s.byte('[') {
		return errSJSON
	}
	for first := true; !s.byte(']'); first = false {
		if !first && !s.byte(',') {
			return errSJSON
		}
		if err := fn(); err != nil {
			return err
		}
	}
	return nil
}

// schema reads a document's schema: {} or {"p":{…},"$k":[…]}, nothing else.
func (s *sjScan) schema() (*sjSchema, error) {
	sch := &sjSchema{}
	var seen uint8
	err := s.members(func(k string) (err error) {
		switch k {
		case "p":
			if err = once(&seen, 1); err == nil {
				sch.props, err = s.props()
			}
		case "$k":
			if err = once(&seen, 2); err == nil {
				sch.keys, err = s.strings()
			}
		default:
			err = errSJSON // FerretDB refuses unknown fields
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	// A key twice would be one value to FerretDB.
	dup := make(map[string]bool, len(sch.keys))
	for _, k := range sch.keys {
		if dup[k] || strings.IndexByte(k, 0) >= 0 {
			return nil, errSJSON
		}
		dup[k] = true
	}
	return sch, nil
}

// props reads a schema's "p": {key: elem, …} (a key twice: the last, as
// encoding/json reads it into FerretDB's map).
func (s *sjScan) props() (map[string]*sjElem, error) {
	if s.literal("null") {
		return nil, nil
	}
	out := map[string]*sjElem{}
	err := s.members(func(k string) (err error) {
		out[k], err = s.elem()
		return err
	})
	return out, err
}

// strings reads a JSON array of strings.
func (s *sjScan) strings() ([]string, error) {
	if s.literal("null") {
		return nil, nil
	}
	var out []string
	err := s.elements(func() error {
		k, err := s.str()
		out = append(out, k)
		return err
	})
	return out, err
}

// elem reads the schema of one value (null: none, as encoding/json reads it).
func (s *sjScan) elem() (*sjElem, error) {
	if s.literal("null") {
		return nil, nil
	}
	if e := s.scalarElem(); e != nil {
		return e, nil
	}
	if s.dec == nil {
		return s.parseElem()
	}
	// An object's or an array's elem: the same text is the same elem
	// (an object list's items repeat from record to record).
	start := s.skipSpace()
	if err := s.skip(); err != nil {
		return nil, err
	}
	raw := s.b[start:s.i]
	if e, ok := s.dec.elems[string(raw)]; ok {
		return e, nil
	}
	e, err := (&sjScan{b: raw}).parseElem()
	if err != nil {
		return nil, err
	}
	if s.dec.elems == nil || len(s.dec.elems) >= maxSchemas {
		s.dec.elems = map[string]*sjElem{}
	}
	s.dec.elems[string(raw)] = e
	return e, nil
}

// parseElem reads an elem's object.
func (s *sjScan) parseElem() (*sjElem, error) {
	e := &sjElem{}
	var seen uint8
	err := s.members(func(k string) (err error) {
		bit, known := elemFields[k]
		if !known {
			return errSJSON // FerretDB refuses unknown fields
		}
		if err := once(&seen, bit); err != nil {
			return err
		}
		if k != "t" && s.literal("null") {
			return nil // as absent
		}
		switch k {
		case "t":
			var t string
			if t, err = s.str(); err == nil {
				if e.typ = sjTypes[t]; e.typ == 0 {
					err = errSJSON
				}
			}
		case "$s":
			e.doc, err = s.schema()
			e.hasDoc = true
		case "i":
			e.hasItems, e.items = true, []*sjElem{}
			err = s.elements(func() error {
				it, err := s.elem()
				e.items = append(e.items, it)
				return err
			})
		case "o":
			e.options, err = s.str()
			e.hasOptions = true
		case "s":
			var n string
			if n, err = s.number(); err == nil {
				var sub uint64
				if sub, err = strconv.ParseUint(n, 10, 8); err != nil {
					err = errSJSON
				}
				e.subtype, e.hasSubtype = byte(sub), true
			}
		default:
			err = errSJSON
		}
		return err
	})
	if err != nil || e.typ == 0 {
		return nil, errSJSON
	}
	return e, nil
}

// elemFields are the fields of an elem, each its bit for once.
var elemFields = map[string]uint8{"t": 1, "$s": 2, "i": 4, "o": 8, "s": 16}

// scalarElems are the elems of the scalar types, as FerretDB writes them
// ({"t":"string"}): shared, read without allocating.
var scalarElems = func() map[string]*sjElem {
	m := map[string]*sjElem{}
	for name, t := range sjTypes {
		switch t {
		case sjObject, sjArray, sjBinData, sjRegex:
			continue
		}
		m[`{"t":"`+name+`"}`] = &sjElem{typ: t}
	}
	return m
}()

// scalarElem moves past a scalar type's elem written as FerretDB writes
// it and returns it; nil (nothing read) for anything else.
func (s *sjScan) scalarElem() *sjElem {
	rest := s.b[s.skipSpace():]
	if len(rest) < 6 || string(rest[:6]) != `{"t":"` {
		return nil
	}
	end := bytes.IndexByte(rest[6:], '"')
	if end < 0 || 6+end+2 > len(rest) {
		return nil
	}
	n := 6 + end + 2
	e := scalarElems[string(rest[:n])]
	if e != nil {
		s.i += n
	}
	return e
}

// value appends the value that comes next, of schema e, to dst under key.
func (s *sjScan) value(dst []byte, key string, e *sjElem) ([]byte, error) {
	if s.literal("null") {
		return bsoncore.AppendNullElement(dst, key), nil
	}
	if e == nil {
		return nil, errSJSON
	}
	switch e.typ {
	case sjObject:
		if !e.hasDoc {
			return nil, errSJSON
		}
		idx, dst := bsoncore.AppendDocumentElementStart(dst, key)
		if !s.byte('{') {
			return nil, errSJSON
		}
		if s.byte('}') {
			// FerretDB reads {} as the empty document whatever its schema; it
			// writes {} for the empty document only, with the schema {}.
			if len(e.doc.keys) > 0 {
				return nil, errSJSON
			}
			return bsoncore.AppendDocumentEnd(dst, idx)
		}
		for i, k := range e.doc.keys {
			if i > 0 && !s.byte(',') {
				return nil, errSJSON
			}
			if !s.keyIs(k) {
				return nil, errSJSON
			}
			var err error
			if dst, err = s.value(dst, k, e.doc.props[k]); err != nil {
				return nil, err
			}
		}
		if !s.byte('}') {
			return nil, errSJSON
		}
		return bsoncore.AppendDocumentEnd(dst, idx)
	case sjArray:
		if !e.hasItems || !s.byte('[') {
			return nil, errSJSON
		}
		idx, dst := bsoncore.AppendArrayElementStart(dst, key)
		for i, it := range e.items {
			if i > 0 && !s.byte(',') {
				return nil, errSJSON
			}
			var err error
			if dst, err = s.value(dst, strconv.Itoa(i), it); err != nil {
				return nil, err
			}
		}
		if !s.byte(']') {
			return nil, errSJSON
		}
		return bsoncore.AppendArrayEnd(dst, idx)
	case sjString:
		raw, err := s.rawString()
		if err != nil {
			return nil, err
		}
		if plain(raw) {
			// The text itself: no string in between.
			dst = bsoncore.AppendHeader(dst, bsoncore.TypeString, key)
			dst = binary.LittleEndian.AppendUint32(dst, uint32(len(raw)-1))
			return append(append(dst, raw[1:len(raw)-1]...), 0), nil
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, errSJSON
		}
		return bsoncore.AppendStringElement(dst, key, v), nil
	case sjBool:
		switch {
		case s.literal("true"):
			return bsoncore.AppendBooleanElement(dst, key, true), nil
		case s.literal("false"):
			return bsoncore.AppendBooleanElement(dst, key, false), nil
		}
		return nil, errSJSON
	case sjDouble:
		n, err := s.number()
		if err != nil {
			return nil, err
		}
		f, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return nil, errSJSON
		}
		return bsoncore.AppendDoubleElement(dst, key, f), nil
	case sjInt, sjLong, sjDate:
		n, err := s.number()
		if err != nil {
			return nil, err
		}
		bits := 64
		if e.typ == sjInt {
			bits = 32
		}
		v, err := strconv.ParseInt(n, 10, bits)
		if err != nil {
			return nil, errSJSON
		}
		switch e.typ {
		case sjInt:
			return bsoncore.AppendInt32Element(dst, key, int32(v)), nil
		case sjLong:
			return bsoncore.AppendInt64Element(dst, key, v), nil
		}
		return bsoncore.AppendDateTimeElement(dst, key, v), nil
	case sjTimestamp:
		n, err := s.number()
		if err != nil {
			return nil, err
		}
		v, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			return nil, errSJSON
		}
		return bsoncore.AppendTimestampElement(dst, key, uint32(v>>32), uint32(v)), nil
	case sjObjectID:
		v, err := s.str()
		if err != nil {
			return nil, err
		}
		oid, err := hex.DecodeString(v)
		if err != nil || len(oid) != 12 {
			return nil, errSJSON
		}
		return append(bsoncore.AppendHeader(dst, bsoncore.TypeObjectID, key), oid...), nil
	case sjBinData:
		if !e.hasSubtype {
			return nil, errSJSON
		}
		v, err := s.str()
		if err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, errSJSON
		}
		return bsoncore.AppendBinaryElement(dst, key, e.subtype, b), nil
	case sjRegex:
		if !e.hasOptions {
			return nil, errSJSON
		}
		v, err := s.str()
		if err != nil || strings.IndexByte(v, 0) >= 0 || strings.IndexByte(e.options, 0) >= 0 {
			return nil, errSJSON
		}
		return bsoncore.AppendRegexElement(dst, key, v, e.options), nil
	}
	// sjNull with a value that is not null: FerretDB refuses it too.
	return nil, fmt.Errorf("%w: %q is not null", errSJSON, key)
}
