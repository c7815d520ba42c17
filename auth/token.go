package auth

import (
	"errors"
	"time"

	"fieldsync"

	"github.com/golang-jwt/jwt/v5"
)

// Token constants: the issuer and audience every access token carries and the
// verifier insists on, and the clock leeway allowed for nbf/exp.
const (
	Issuer   = "fieldsync"
	Audience = "fieldsync-api"
	Leeway   = 30 * time.Second
)

// accessClaims are the claims of an access token. Role and sites are not in
// the token: they are loaded per request so changes apply within seconds.
type accessClaims struct {
	jwt.RegisteredClaims
	TenantID  string `json:"tid"`
	SessionID string `json:"sid"`
	DeviceID  string `json:"did"`
	// Generation is the session's refresh generation the token was issued
	// with (0 in tokens issued before generations were counted).
	Generation int64 `json:"gen,omitempty"`
}

func (s *Service) signAccess(sess *fieldsync.Session, now time.Time) (string, error) {
	k := s.keys.Signer()
	claims := accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   sess.UserID,
			Audience:  jwt.ClaimStrings{Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.opts.AccessTTL)),
		},
		TenantID:   sess.TenantID,
		SessionID:  sess.ID,
		DeviceID:   sess.DeviceID,
		Generation: sess.Generation,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = k.ID
	return t.SignedString(k.Private)
}

var errUnknownKey = errors.New("auth: unknown or retired key id")

// parseAccess verifies an access token: EdDSA only (so `none`, HS256 and RS256
// tokens are refused whatever key they claim), a known unretired kid,
// issuer, audience, exp required, nbf/exp within Leeway of s.now().
func (s *Service) parseAccess(raw string) (*accessClaims, error) {
	now := s.now()
	var claims accessClaims
	_, err := jwt.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := s.keys.Verifier(kid, now)
		if !ok {
			return nil, errUnknownKey
		}
		return k.Public, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(s.now),
	)
	if err != nil {
		return nil, err
	}
	if claims.Subject == "" || claims.SessionID == "" || claims.TenantID == "" || claims.DeviceID == "" {
		return nil, errors.New("auth: token lacks subject, tenant, session or device")
	}
	return &claims, nil
}
