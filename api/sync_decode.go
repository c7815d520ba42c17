package api

import (
	"bytes"
	"encoding/json"
	"strconv"

	"fieldsync"
)

// decodePushOnePass is decodeStrict(b, batch) for a push body that checkJSON
// took. The bodies phones send — every key spelled as declared, strings
// without escapes, numbers that are integers — are read by pushScanner in one
// pass without reflection (encoding/json scanned such a body twice more and
// went through reflection for every value: 7 % of a push's API CPU); any
// other body is left to decodeStrict. FuzzPushScanner holds the scanner to
// decodeStrict's result for every body it takes.
func decodePushOnePass(b []byte, batch *fieldsync.PushRequest) error {
	if req, ok := scanPush(b); ok {
		*batch = req
		return nil
	}
	*batch = fieldsync.PushRequest{}
	return decodeStrict(b, batch)
}

// scanPush reads b (well-formed JSON: checkJSON passed) as a push request,
// or answers ok false when it is not in the plain form pushScanner reads.
func scanPush(b []byte) (req fieldsync.PushRequest, ok bool) {
	// One copy for every raw value the request keeps, which encoding/json
	// copied one by one (the body may be the server's reused buffer).
	s := pushScanner{jsonScanner{b: bytes.Clone(b)}}
	ok = s.object(func(key []byte) bool {
		switch string(key) {
		case "device_id":
			req.DeviceID, ok = s.str()
		case "schema_version":
			var n int64
			n, ok = s.int()
			req.SchemaVersion = int(n)
		case "mutations":
			req.Mutations, ok = s.mutations()
		default:
			return false
		}
		return ok
	})
	s.space()
	return req, ok && s.i == len(s.b)
}

// pushScanner reads the plain form of a push body; its methods answer false
// for anything else (and the caller gives up). It moves through the body
// as checkJSON's scanner does (whose space it uses).
type pushScanner struct{ jsonScanner }

// next consumes c, after any space.
func (s *pushScanner) next(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// object reads an object, calling member with each key when the scanner is
// at the key's value (member reads it).
func (s *pushScanner) object(member func(key []byte) bool) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	for {
		k, ok := s.plain()
		if !ok || !s.next(':') || !member(k) {
			return false
		}
		if s.next(',') {
			continue
		}
		return s.next('}')
	}
}

// plain reads a string without escapes and returns its bytes.
func (s *pushScanner) plain() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	start := s.i
	for ; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case '"':
			s.i++
			return s.b[start : s.i-1], true
		case '\\':
			return nil, false
		}
	}
	return nil, false
}

func (s *pushScanner) str() (string, bool) {
	b, ok := s.plain()
	return string(b), ok
}

// int reads a number that is an int64 (encoding/json refuses a fraction or
// an exponent there).
func (s *pushScanner) int() (int64, bool) {
	s.space()
	start := s.i
	for s.i < len(s.b) && (s.b[s.i] == '-' || s.b[s.i] >= '0' && s.b[s.i] <= '9') {
		s.i++
	}
	n, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64)
	return n, err == nil
}

// value reads any well-formed value and returns its bytes.
func (s *pushScanner) value() ([]byte, bool) {
	s.space()
	start := s.i
	if s.i == len(s.b) {
		return nil, false
	}
	switch s.b[s.i] {
	case '"':
		s.skipString()
	case '{', '[':
		for depth := 0; s.i < len(s.b); {
			switch s.b[s.i] {
			case '"':
				s.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				break
			}
		}
	default: // a number, true, false or null
		for s.i < len(s.b) && bytes.IndexByte([]byte(" \t\r\n,}]"), s.b[s.i]) < 0 {
			s.i++
		}
	}
	// Capped: a value appended to never writes over the next one.
	return s.b[start:s.i:s.i], s.i > start
}

func (s *pushScanner) skipString() {
	for s.i++; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case '\\':
			s.i++
		case '"':
			s.i++
			return
		}
	}
}

func (s *pushScanner) mutations() ([]fieldsync.Mutation, bool) {
	if !s.next('[') {
		return nil, false
	}
	out := make([]fieldsync.Mutation, 0, bytes.Count(s.b[s.i:], []byte(`"mutation_id"`)))
	if s.next(']') {
		return out, true
	}
	for {
		var m fieldsync.Mutation
		if !s.mutation(&m) {
			return nil, false
		}
		out = append(out, m)
		if s.next(',') {
			continue
		}
		return out, s.next(']')
	}
}

func (s *pushScanner) mutation(m *fieldsync.Mutation) bool {
	return s.object(func(key []byte) bool {
		var ok bool
		switch string(key) {
		case "mutation_id":
			m.MutationID, ok = s.str()
		case "collection":
			m.Collection, ok = s.str()
		case "op":
			m.Op, ok = s.str()
		case "id":
			m.ID, ok = s.str()
		case "base_version":
			m.BaseVersion, ok = s.int()
		case "fields":
			m.Fields, ok = s.raws()
		case "action":
			m.Action, ok = s.str()
		case "args":
			m.Args, ok = s.raws()
		case "client_time":
			m.ClientTime, ok = s.str()
		}
		return ok
	})
}

// raws reads an object of raw values.
func (s *pushScanner) raws() (map[string]json.RawMessage, bool) {
	out := map[string]json.RawMessage{}
	return out, s.object(func(key []byte) bool {
		v, ok := s.value()
		out[string(key)] = v
		return ok
	})
}
