package api

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"

	"fieldsync"
)

// scanJSON is checkJSON's fast path: one pass over the bytes, no tokens
// allocated, for the duplicate-key and depth rules (UTF-8 is checked before).
// It decides only well-formed input: on anything malformed it answers
// decided false and checkJSON's token walk reports the error exactly as
// before (FuzzScanJSON holds the two to the same answers).
func scanJSON(b []byte) (decided bool, err error) {
	return (&jsonScanner{b: b, maxDepth: MaxJSONDepth, floats: true}).all()
}

// all scans every value of s.b.
func (s *jsonScanner) all() (decided bool, err error) {
	for {
		s.space()
		if s.i == len(s.b) {
			return true, nil
		}
		if ok, err := s.value(0); !ok || err != nil {
			return ok, err
		}
	}
}

type jsonScanner struct {
	b []byte
	i int
	// maxDepth bounds the nesting (0: encoding/json's own bound); keysDepth,
	// when set, limits the duplicate-key rule to objects at most that deep.
	maxDepth, keysDepth int
	// floats: a number must fit a float64 (the token walk converts every number).
	floats bool
}

func (s *jsonScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value scans one value whose enclosing containers number depth.
func (s *jsonScanner) value(depth int) (bool, error) {
	if s.i >= len(s.b) {
		return false, nil
	}
	switch c := s.b[s.i]; {
	case c == '{' || c == '[':
		if s.maxDepth > 0 && depth >= s.maxDepth {
			return true, fieldsync.Errorf(fieldsync.EInvalid, "JSON nested deeper than %d levels", MaxJSONDepth)
		}
		if c == '{' {
			return s.object(depth + 1)
		}
		return s.array(depth + 1)
	case c == '"':
		_, ok := s.str()
		return ok, nil
	case c == 't':
		return s.literal("true"), nil
	case c == 'f':
		return s.literal("false"), nil
	case c == 'n':
		return s.literal("null"), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number(), nil
	}
	return false, nil
}

func (s *jsonScanner) object(depth int) (bool, error) {
	s.i++ // {
	var keys []string
	var set map[string]struct{}
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return true, nil
	}
	for {
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false, nil
		}
		k, ok := s.str()
		if !ok {
			return false, nil
		}
		if s.keysDepth > 0 && depth > s.keysDepth {
			// not this scan's business
		} else if set != nil {
			if _, dup := set[k]; dup {
				return true, &fieldsync.Error{Code: fieldsync.EInvalid, Field: k, Message: "duplicate key"}
			}
			set[k] = struct{}{}
		} else if slices.Contains(keys, k) {
			return true, &fieldsync.Error{Code: fieldsync.EInvalid, Field: k, Message: "duplicate key"}
		} else if keys = append(keys, k); len(keys) > 16 {
			set = make(map[string]struct{}, 2*len(keys))
			for _, k := range keys {
				set[k] = struct{}{}
			}
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false, nil
		}
		s.i++
		if more, ok, err := s.element(depth, '}'); !more || !ok || err != nil {
			return ok, err
		}
	}
}

func (s *jsonScanner) array(depth int) (bool, error) {
	s.i++ // [
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return true, nil
	}
	for {
		if more, ok, err := s.element(depth, ']'); !more || !ok || err != nil {
			return ok, err
		}
	}
}

// element scans one value of a container and what follows it: more when a
// comma does (another element), !more at the container's closing byte.
func (s *jsonScanner) element(depth int, closing byte) (more, ok bool, err error) {
	s.space()
	if ok, err := s.value(depth); !ok || err != nil {
		return false, ok, err
	}
	s.space()
	switch s.peek() {
	case ',':
		s.i++
		return true, true, nil
	case closing:
		s.i++
		return false, true, nil
	}
	return false, false, nil
}

// str scans a string and returns its value (unescaped only when it has escapes).
func (s *jsonScanner) str() (string, bool) {
	start := s.i
	s.i++ // "
	escaped := false
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			raw := s.b[start:s.i]
			if !escaped {
				return string(raw[1 : len(raw)-1]), true
			}
			var v string
			if json.Unmarshal(raw, &v) != nil {
				return "", false
			}
			return v, true
		case c == '\\':
			escaped = true
			if !s.escape() {
				return "", false
			}
		case c < 0x20:
			return "", false
		default:
			s.i++
		}
	}
	return "", false
}

// escape skips one escape sequence: \" \\ \/ \b \f \n \r \t or \uXXXX.
func (s *jsonScanner) escape() bool {
	s.i++ // backslash
	switch s.peek() {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i++
		return true
	case 'u':
		if len(s.b)-s.i < 5 {
			return false
		}
		for _, h := range s.b[s.i+1 : s.i+5] {
			if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
				return false
			}
		}
		s.i += 5
		return true
	}
	return false
}

func (s *jsonScanner) literal(word string) bool {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return s.end()
}

// number scans a number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?,
// within float64's range (the token walk refuses one beyond it).
func (s *jsonScanner) number() bool {
	start := s.i
	if !s.numberGrammar() {
		return false
	}
	if n := s.b[start:s.i]; s.floats && (len(n) > 15 || bytes.ContainsAny(n, "eE")) {
		if _, err := strconv.ParseFloat(string(n), 64); err != nil {
			return false
		}
	}
	return s.end()
}

func (s *jsonScanner) numberGrammar() bool {
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return false
	}
	if s.peek() == '.' {
		s.i++
		if !s.digits() {
			return false
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

func (s *jsonScanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// digits skips one or more digits.
func (s *jsonScanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// end reports whether a literal or number is properly delimited.
func (s *jsonScanner) end() bool {
	if s.i == len(s.b) {
		return true
	}
	switch s.b[s.i] {
	case ' ', '\t', '\n', '\r', ',', '}', ']':
		return true
	}
	return false
}
