package auth

import (
	"testing"
	"time"
)

// FuzzParseRefreshToken: any client string is either refused or yields a valid session id.
func FuzzParseRefreshToken(f *testing.F) {
	f.Add("0190a5a0-0000-7000-8000-000000000001.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("x.y")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		sid, ok := parseRefreshToken(s)
		if ok && (len(sid) != 36 || len(s) > 128) {
			t.Fatalf("accepted %q as session %q", s, sid)
		}
	})
}

// FuzzParseAccess: arbitrary bearer strings never panic and never verify.
func FuzzParseAccess(f *testing.F) {
	k, err := GenerateKey()
	if err != nil {
		f.Fatal(err)
	}
	s := &Service{opts: Options{Now: time.Now, AccessTTL: time.Minute}, keys: NewKeySet(k)}
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJFZERTQSIsImtpZCI6IngifQ.e30.AAAA")
	f.Fuzz(func(t *testing.T, raw string) {
		if c, err := s.parseAccess(raw); err == nil {
			t.Fatalf("forged token %q verified: %+v", raw, c)
		}
	})
}
