package fieldsync

import "time"

// DemoTenant is the tenant `fieldsync seed demo` creates.
const DemoTenant = "demo"

// Fixed ids of the two demo sites. The auth seed assigns demo users to them;
// the sync/domain seed creates the `sites` records with these same ids.
const (
	DemoSiteA = "00000000-0000-7000-8000-00000000000a"
	DemoSiteB = "00000000-0000-7000-8000-00000000000b"
)

// Session is one login of one user on one device: the refresh-token family of
// that device. Refresh tokens are stored only as SHA-256 hashes.
type Session struct {
	ID       string `json:"id" bson:"_id"`
	TenantID string `json:"tenant" bson:"tenant"`
	UserID   string `json:"user_id" bson:"user_id"`
	DeviceID string `json:"device_id" bson:"device_id"`
	// RefreshHash is the hash of the one refresh token that is current.
	RefreshHash string `json:"-" bson:"refresh_hash"`
	// UsedHashes are the hashes of earlier refresh tokens (rotated, or
	// superseded by a retry), oldest first and bounded; presenting one again
	// is the theft signal.
	UsedHashes []string `json:"-" bson:"used_hashes"`
	// GraceHash is the hash of the token rotated last: it may be presented
	// again until RotatedAt + the reuse grace (a retry whose answer was lost).
	GraceHash string `json:"-" bson:"grace_hash"`
	// RotatedAt is when GraceHash was rotated (start of its retry grace).
	RotatedAt time.Time `json:"rotated_at" bson:"rotated_at"`
	// Generation numbers the current refresh token: 1 at login, one more per
	// refresh or retry. Access tokens carry the generation they came with.
	Generation int64 `json:"-" bson:"generation"`
	// GraceGeneration is the generation of GraceHash's token; generations
	// between it and Generation were superseded by retries (never delivered).
	GraceGeneration int64 `json:"-" bson:"grace_generation"`
	// SeenGeneration is the latest generation known used: its access token
	// on a request or its refresh token presented. Once Generation is seen,
	// GraceHash can no longer be retried.
	SeenGeneration int64      `json:"-" bson:"seen_generation"`
	CreatedAt      time.Time  `json:"created_at" bson:"created_at"`
	LastUsedAt     time.Time  `json:"last_used_at" bson:"last_used_at"`
	ExpiresAt      time.Time  `json:"expires_at" bson:"expires_at"`
	RevokedAt      *time.Time `json:"revoked_at,omitempty" bson:"revoked_at,omitempty"`
	RevokeReason   string     `json:"revoke_reason,omitempty" bson:"revoke_reason,omitempty"`
}

// Active reports whether s may still be used at now.
func (s *Session) Active(now time.Time) bool {
	return s.RevokedAt == nil && now.Before(s.ExpiresAt)
}

// Device is a phone a user has signed in on, as seen through its sessions.
type Device struct {
	ID          string    `json:"device_id"`
	UserID      string    `json:"user_id"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	Active      bool      `json:"active"`
	Sessions    int       `json:"sessions"`
	ActiveUntil time.Time `json:"active_until,omitzero"`
}

// SessionFilter selects sessions of one tenant (to revoke them); empty fields
// other than TenantID match anything.
type SessionFilter struct {
	TenantID string
	ID       string
	UserID   string
	DeviceID string
}
