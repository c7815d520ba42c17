package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Key is one Ed25519 signing key. Private is nil for a key kept only to
// verify tokens it signed before a rotation.
type Key struct {
	ID      string
	Private ed25519.PrivateKey
	Public  ed25519.PublicKey
	// NotAfter, when set, is when the key stops verifying: its last token has expired.
	NotAfter time.Time
}

// KeyID derives a stable key id from a public key, so every instance that
// loads the same key names it the same.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// NewKey wraps a private key.
func NewKey(priv ed25519.PrivateKey) *Key {
	pub := priv.Public().(ed25519.PublicKey)
	return &Key{ID: KeyID(pub), Private: priv, Public: pub}
}

// GenerateKey returns a fresh Ed25519 key.
func GenerateKey() (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return NewKey(priv), nil
}

// KeySet is the signing key and the keys still accepted for verification.
// It is safe for concurrent use.
type KeySet struct {
	mu     sync.RWMutex
	signer *Key
	keys   map[string]*Key
}

// NewKeySet returns a set that signs with signer and also verifies with previous.
func NewKeySet(signer *Key, previous ...*Key) *KeySet {
	ks := &KeySet{signer: signer, keys: map[string]*Key{signer.ID: signer}}
	for _, k := range previous {
		if _, dup := ks.keys[k.ID]; !dup {
			ks.keys[k.ID] = k
		}
	}
	return ks
}

// Signer returns the key new tokens are signed with.
func (ks *KeySet) Signer() *Key {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.signer
}

// Verifier returns the key named kid if it still verifies at now.
func (ks *KeySet) Verifier(kid string, now time.Time) (*Key, bool) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	k, ok := ks.keys[kid]
	if !ok || !k.NotAfter.IsZero() && now.After(k.NotAfter) {
		return nil, false
	}
	return k, true
}

// Rotate makes next the signing key. The previous signer keeps verifying
// until retireAt (now + the access-token lifetime + leeway), when the last
// token it signed has expired.
func (ks *KeySet) Rotate(next *Key, retireAt time.Time) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	old := *ks.signer
	old.Private, old.NotAfter = nil, retireAt
	ks.keys[old.ID] = &old
	ks.signer = next
	ks.keys[next.ID] = next
}

// JWK is one public key in RFC 7517/8037 form.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// JWKS returns the public keys that verify at now, signer first.
func (ks *KeySet) JWKS(now time.Time) JWKS {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	out := JWKS{Keys: []JWK{jwkOf(ks.signer)}}
	ids := make([]string, 0, len(ks.keys))
	for id := range ks.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		k := ks.keys[id]
		if id == ks.signer.ID || !k.NotAfter.IsZero() && now.After(k.NotAfter) {
			continue
		}
		out.Keys = append(out.Keys, jwkOf(k))
	}
	return out
}

func jwkOf(k *Key) JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.Public), Kid: k.ID, Alg: "EdDSA", Use: "sig"}
}

// MarshalKeyPEM encodes a private key as PKCS#8 PEM.
func MarshalKeyPEM(k *Key) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseKeyPEM reads an Ed25519 key from PEM: a PKCS#8 private key, or a PKIX
// public key (verification only).
func ParseKeyPEM(b []byte) (*Key, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("auth: no PEM block")
	}
	switch blk.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, errors.New("auth: not an Ed25519 private key")
		}
		return NewKey(priv), nil
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, errors.New("auth: not an Ed25519 public key")
		}
		return &Key{ID: KeyID(pub), Public: pub}, nil
	}
	return nil, fmt.Errorf("auth: unexpected PEM block %q", blk.Type)
}

// LoadKeyFiles builds a key set from PEM files: signing (a private key) and
// previous keys kept for verification (private or public). Previous keys given
// this way never retire on their own: remove them from the configuration once
// the access-token lifetime has passed since the rotation.
func LoadKeyFiles(signing string, previous []string) (*KeySet, error) {
	read := func(path string) (*Key, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		k, err := ParseKeyPEM(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return k, nil
	}
	signer, err := read(signing)
	if err != nil {
		return nil, err
	}
	if signer.Private == nil {
		return nil, fmt.Errorf("%s: auth: the signing key must be a private key", signing)
	}
	var prev []*Key
	for _, p := range previous {
		k, err := read(p)
		if err != nil {
			return nil, err
		}
		k.Private = nil
		prev = append(prev, k)
	}
	return NewKeySet(signer, prev...), nil
}

// Key directories hold one file per key, named ed25519-<unix seconds>.pem after
// its creation (ed25519-<unix seconds>-<n>.pem for the n-th more of that second). A new key is only published (verifies, appears in the JWKS)
// for KeyActivation, so every instance reloading the directory knows it
// before any instance signs with it; then it signs. Each older key verifies
// until its successor has been signing for longer than the access-token
// lifetime (plus leeway).
const keyFilePrefix = "ed25519-"

// KeyActivation is how long a key added to a key directory is published
// before it signs; instances reload the directory every KeyReload.
const (
	KeyActivation = 2 * time.Minute
	KeyReload     = 30 * time.Second
)

// LoadKeyDir builds a key set from dir as of now, generating the first key when dir has none.
func LoadKeyDir(dir string, accessTTL time.Duration, now time.Time) (*KeySet, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	files, err := keyFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		if _, err := AddKeyFile(dir, now); err != nil {
			return nil, err
		}
		if files, err = keyFiles(dir); err != nil {
			return nil, err
		}
	}
	keys := make([]*Key, len(files))
	for i, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			return nil, err
		}
		if keys[i], err = ParseKeyPEM(b); err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		if keys[i].Private == nil {
			return nil, fmt.Errorf("%s: auth: key directory files must hold private keys", f.name)
		}
	}
	// The signer is the newest active key; the very first key signs at once.
	signer := 0
	for i, f := range files {
		if !now.Before(f.created.Add(KeyActivation)) {
			signer = i
		}
	}
	var others []*Key
	for i, k := range keys {
		if i == signer {
			continue
		}
		v := *k
		v.Private = nil
		if i < signer {
			v.NotAfter = files[i+1].created.Add(KeyActivation + accessTTL + Leeway)
			if now.After(v.NotAfter) {
				continue
			}
		}
		others = append(others, &v)
	}
	return NewKeySet(keys[signer], others...), nil
}

// Replace makes ks sign and verify exactly as from does (a reload).
func (ks *KeySet) Replace(from *KeySet) {
	from.mu.RLock()
	signer, keys := from.signer, make(map[string]*Key, len(from.keys))
	for id, k := range from.keys {
		keys[id] = k
	}
	from.mu.RUnlock()
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.signer, ks.keys = signer, keys
}

// AddKeyFile generates a key into dir (a rotation: instances publish it at
// their next reload and sign with it KeyActivation after now) and returns its id.
func AddKeyFile(dir string, now time.Time) (string, error) {
	k, err := GenerateKey()
	if err != nil {
		return "", err
	}
	b, err := MarshalKeyPEM(k)
	if err != nil {
		return "", err
	}
	// Two keys of the same second (the first key generated by a rotation's own
	// load of a fresh directory, two rotations) take the next free name,
	// ed25519-<seconds>-<n>.pem, ordered after the others of that second.
	var f *os.File
	for n := 0; ; n++ {
		name := keyFilePrefix + strconv.FormatInt(now.Unix(), 10)
		if n > 0 {
			name += "-" + strconv.Itoa(n)
		}
		f, err = os.OpenFile(filepath.Join(dir, name+".pem"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || n >= 1000 {
			return "", err
		}
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return "", err
	}
	return k.ID, f.Close()
}

type keyFile struct {
	name    string
	created time.Time
	seq     int // the n of ed25519-<seconds>-<n>.pem; 0 without one
}

func keyFiles(dir string) ([]keyFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []keyFile
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasPrefix(n, keyFilePrefix) || !strings.HasSuffix(n, ".pem") {
			continue
		}
		secs, seqs, hasSeq := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(n, keyFilePrefix), ".pem"), "-")
		sec, err := strconv.ParseInt(secs, 10, 64)
		if err != nil {
			continue
		}
		seq := 0
		if hasSeq {
			if seq, err = strconv.Atoi(seqs); err != nil || seq < 1 {
				continue
			}
		}
		out = append(out, keyFile{name: n, created: time.Unix(sec, 0), seq: seq})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].created.Equal(out[j].created) {
			return out[i].created.Before(out[j].created)
		}
		return out[i].seq < out[j].seq
	})
	return out, nil
}
