package auth_test

import (
	"strings"
	"testing"

	"fieldsync/auth"
)

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	h, err := auth.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=7168,t=5,p=1$") {
		t.Fatalf("got hash %q, want argon2id with the default parameters", h)
	}
	h2, _ := auth.HashPassword("correct horse")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	cheap, _ := auth.PasswordParams{MemoryKiB: 64, Time: 1}.Hash("correct horse")
	for _, tc := range []struct {
		hash, pw string
		ok       bool
	}{{h, "correct horse", true}, {h, "correct horsE", false}, {h, "", false}, {cheap, "correct horse", true}, {cheap, "x", false}} {
		ok, err := auth.CheckPassword(tc.hash, tc.pw)
		if err != nil || ok != tc.ok {
			t.Errorf("CheckPassword(%q, %q) = %v, %v; want %v", tc.hash, tc.pw, ok, err, tc.ok)
		}
	}
	for _, bad := range []string{"", "$2a$10$abc", "$argon2id$v=19$m=99999999,t=2,p=1$AAAA$AAAA", "$argon2id$v=19$m=64,t=1,p=1$!!$AAAA", "$argon2i$v=19$m=64,t=1,p=1$AAAA$AAAA"} {
		if ok, err := auth.CheckPassword(bad, "x"); ok || err == nil {
			t.Errorf("CheckPassword(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
}
