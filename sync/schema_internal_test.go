package sync

import (
	"encoding/json"
	"testing"
)

// FuzzPlainString holds the decoder-free read of plain JSON strings to
// encoding/json's answer: whenever it reads a value, the decoder reads the
// same string.
func FuzzPlainString(f *testing.F) {
	for _, s := range []string{`"abc"`, `""`, `"a\"b"`, `"caf\u00e9"`, `"café"`, "\"\xff\"", "\"a\tb\"", `"a"b"`, `12`, `"`, `"\u0000"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, ok := plainString(raw)
		if !ok {
			return
		}
		var want string
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("%q: read as %q, but the decoder refuses it: %v", raw, got, err)
		}
		if got != want {
			t.Fatalf("%q: read as %q, the decoder reads %q", raw, got, want)
		}
	})
}
