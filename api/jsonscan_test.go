package api

import (
	"strings"
	"testing"
	"unicode/utf8"

	"fieldsync"
)

// FuzzScanJSON holds checkJSON's fast path to the token walk's answers:
// whatever the scanner decides, the token walk decides the same.
func FuzzScanJSON(f *testing.F) {
	for _, s := range []string{
		`{"device_id":"d","mutations":[{"mutation_id":"m","fields":{"a":1,"b":[1,2.5e3,-0.1],"c":null}}]}`,
		`{"a":1,"a":2}`, `{"a\u0062":1,"ab":2}`, `[[[[]]]]`, `{"a":tru}`, `{"a":01}`, `{"a":"\x"}`,
		`1 2`, `{} {}`, `"s"`, `-`, `1.`, `1e`, `{"k":"v",}`, `[1,]`, strings.Repeat("[", 40) + strings.Repeat("]", 40),
		`{"a":{"b":{"b":1,"b":2}}}`, `{"a":1e999}`, `[-1e-999, 12345678901234567890123]`, `{"\u00e9":1,"é":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return
		}
		decided, fast := scanJSON(b)
		if !decided {
			return
		}
		slow := checkJSONTokens(b)
		if (fast == nil) != (slow == nil) || fieldsync.ErrorField(fast) != fieldsync.ErrorField(slow) ||
			fieldsync.ErrorMessage(fast) != fieldsync.ErrorMessage(slow) {
			t.Fatalf("%q: scanner says %v, token walk says %v", b, fast, slow)
		}
	})
}

func TestScanJSONDecides(t *testing.T) {
	for _, s := range []string{`{"a":1,"b":{"c":[true,false,null,"x\n"]}}`, `{"a":1,"a":2}`, strings.Repeat("[", 33) + strings.Repeat("]", 33)} {
		if decided, _ := scanJSON([]byte(s)); !decided {
			t.Fatalf("%s: the fast path should decide well-formed input", s)
		}
	}
}
