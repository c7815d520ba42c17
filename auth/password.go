package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: one of OWASP's equivalent minimum configurations
// (7 MiB, 5 passes, 1 lane — the same strength as 19 MiB and 2 passes, with
// less memory per login: a server takes many logins at once).
const (
	argonTime    = 5
	argonMemory  = 7 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Password limits, checked before any hashing so a huge body cannot burn CPU.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 256
)

var b64 = base64.RawStdEncoding

// PasswordParams are the argon2id cost parameters of new hashes. The zero
// value means the defaults (7 MiB, 5 passes); stored hashes carry their own
// parameters, so raising them later invalidates nothing.
type PasswordParams struct {
	MemoryKiB uint32
	Time      uint32
}

func (p PasswordParams) withDefaults() PasswordParams {
	if p.MemoryKiB == 0 {
		p.MemoryKiB = argonMemory
	}
	if p.Time == 0 {
		p.Time = argonTime
	}
	return p
}

// HashPassword returns the PHC-formatted argon2id hash of password with the default parameters.
func HashPassword(password string) (string, error) {
	return PasswordParams{}.Hash(password)
}

// Hash returns the PHC-formatted argon2id hash of password.
func (p PasswordParams) Hash(password string) (string, error) {
	p = p.withDefaults()
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("auth: malformed password hash")

// CheckPassword reports whether password matches the PHC argon2id hash,
// comparing in constant time. The parameters are read from the hash so they
// can be raised later without invalidating stored hashes.
func CheckPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var mem, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil || mem == 0 || t == 0 || p == 0 || mem > 1<<20 || t > 16 {
		return false, errBadHash
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, t, mem, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
