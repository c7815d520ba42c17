package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/auth"

	"github.com/golang-jwt/jwt/v5"
)

// claimsFor are valid claims for session t, to be broken one at a time.
func claimsFor(t *auth.Tokens, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": auth.Issuer, "aud": auth.Audience, "sub": t.User.ID,
		"tid": t.Session.TenantID, "sid": t.Session.ID, "did": t.Session.DeviceID,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(),
	}
}

func sign(tb testing.TB, m jwt.SigningMethod, claims jwt.MapClaims, kid string, key any) string {
	tb.Helper()
	tok := jwt.NewWithClaims(m, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestTokenTampering checks the verifier refuses every forged or stale token
// and accepts the genuine one.
func TestTokenTampering(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tok := f.login(t, "phone-1")
	ctx := context.Background()
	now := f.clock.Now()
	signer := f.keys.Signer()
	other, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	with := func(k string, v any) jwt.MapClaims {
		c := claimsFor(tok, now)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	good := claimsFor(tok, now)
	if c, err := f.svc.Authenticate(ctx, sign(t, jwt.SigningMethodEdDSA, good, signer.ID, signer.Private)); err != nil || c.UserID != f.guard.ID {
		t.Fatalf("hand-signed genuine token: got %v, %v; want the guard", c, err)
	}
	if c, err := f.svc.Authenticate(ctx, tok.AccessToken); err != nil || c.UserID != f.guard.ID || c.DeviceID != "phone-1" || c.Role != fieldsync.RoleGuard {
		t.Fatalf("issued token: got %+v, %v", c, err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok.AccessToken, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	flipped := []byte(strings.Replace(string(payload), `"did":"phone-1"`, `"did":"phone-2"`, 1))
	if string(flipped) == string(payload) {
		t.Fatalf("payload %s has no did to flip", payload)
	}
	oneByte := append([]byte(nil), payload...)
	oneByte[len(oneByte)/2] ^= 0x01
	cases := map[string]string{
		"alg none":                        none,
		"alg none with kid":               strings.Split(sign(t, jwt.SigningMethodNone, good, signer.ID, jwt.UnsafeAllowNoneSignatureType), ".")[0] + "." + parts[1] + ".",
		"HS256 keyed with the public key": sign(t, jwt.SigningMethodHS256, good, signer.ID, []byte(signer.Public)),
		"RS256 with our kid":              sign(t, jwt.SigningMethodRS256, good, signer.ID, rsaKey),
		"another key, our kid":            sign(t, jwt.SigningMethodEdDSA, good, signer.ID, other.Private),
		"another key, its own kid":        sign(t, jwt.SigningMethodEdDSA, good, other.ID, other.Private),
		"no kid":                          sign(t, jwt.SigningMethodEdDSA, good, "", signer.Private),
		"payload changed":                 parts[0] + "." + base64.RawURLEncoding.EncodeToString(flipped) + "." + parts[2],
		"one payload byte flipped":        parts[0] + "." + base64.RawURLEncoding.EncodeToString(oneByte) + "." + parts[2],
		"signature truncated":             tok.AccessToken[:len(tok.AccessToken)-4],
		"wrong issuer":                    sign(t, jwt.SigningMethodEdDSA, with("iss", "evil"), signer.ID, signer.Private),
		"wrong audience":                  sign(t, jwt.SigningMethodEdDSA, with("aud", "other-api"), signer.ID, signer.Private),
		"no exp":                          sign(t, jwt.SigningMethodEdDSA, with("exp", nil), signer.ID, signer.Private),
		"expired":                         sign(t, jwt.SigningMethodEdDSA, with("exp", now.Add(-time.Minute).Unix()), signer.ID, signer.Private),
		"not yet valid":                   sign(t, jwt.SigningMethodEdDSA, with("nbf", now.Add(5*time.Minute).Unix()), signer.ID, signer.Private),
		"issued in the future":            sign(t, jwt.SigningMethodEdDSA, with("iat", now.Add(5*time.Minute).Unix()), signer.ID, signer.Private),
		"other user's subject":            sign(t, jwt.SigningMethodEdDSA, with("sub", "someone-else"), signer.ID, signer.Private),
		"other tenant":                    sign(t, jwt.SigningMethodEdDSA, with("tid", "t2"), signer.ID, signer.Private),
		"other device":                    sign(t, jwt.SigningMethodEdDSA, with("did", "phone-9"), signer.ID, signer.Private),
		"unknown session":                 sign(t, jwt.SigningMethodEdDSA, with("sid", "00000000-0000-4000-8000-000000000000"), signer.ID, signer.Private),
		"garbage":                         "not.a.jwt",
	}
	for name, raw := range cases {
		if c, err := f.svc.Authenticate(ctx, raw); err == nil || fieldsync.ErrorCode(err) != fieldsync.EUnauthorized {
			t.Errorf("%s: got caller %+v, err %v; want unauthorized", name, c, err)
		}
	}
}

// TestAccessTokenExpiry moves the injected clock past the token's life.
func TestAccessTokenExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tok := f.login(t, "phone-1")
	ctx := context.Background()
	f.clock.Advance(auth.DefaultAccessTTL)
	if _, err := f.svc.Authenticate(ctx, tok.AccessToken); err != nil {
		t.Fatalf("at expiry, within leeway: %v", err)
	}
	f.clock.Advance(auth.Leeway + time.Second)
	_, err := f.svc.Authenticate(ctx, tok.AccessToken)
	wantCode(t, err, fieldsync.EUnauthorized)
}

// TestKeyRotation: after a rotation new tokens carry the new kid, tokens of
// the old key verify until they have expired, then the old key is retired
// (also from the JWKS).
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	old := f.login(t, "phone-1")
	oldKey := f.keys.Signer()
	oldKid := oldKey.ID
	next, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	f.keys.Rotate(next, f.clock.Now().Add(f.svc.AccessTTL()+auth.Leeway))
	fresh := f.login(t, "phone-2")
	if kid := headerKid(t, fresh.AccessToken); kid != next.ID {
		t.Fatalf("got kid %q after rotation, want %q", kid, next.ID)
	}
	if _, err := f.svc.Authenticate(ctx, old.AccessToken); err != nil {
		t.Fatalf("token of the previous key refused right after rotation: %v", err)
	}
	if got := kids(f.svc.JWKS()); got != next.ID+","+oldKid {
		t.Fatalf("got JWKS kids %s, want new then old", got)
	}
	f.clock.Advance(f.svc.AccessTTL() + auth.Leeway + time.Second)
	if got := kids(f.svc.JWKS()); got != next.ID {
		t.Fatalf("got JWKS kids %s after retirement, want only %s", got, next.ID)
	}
	// A token signed by the retired key is refused even with a valid exp
	// (the same token signed by the current key passes).
	c := claimsFor(old, f.clock.Now())
	if _, err := f.svc.Authenticate(ctx, sign(t, jwt.SigningMethodEdDSA, c, oldKid, oldKey.Private)); err == nil {
		t.Fatal("retired key still verifies")
	}
	if _, err := f.svc.Authenticate(ctx, sign(t, jwt.SigningMethodEdDSA, c, next.ID, next.Private)); err != nil {
		t.Fatalf("current key: %v", err)
	}
}

func headerKid(tb testing.TB, raw string) string {
	tb.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		tb.Fatal(err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}

func kids(set auth.JWKS) string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.Kid)
	}
	return strings.Join(out, ",")
}
