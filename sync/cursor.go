package sync

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"

	"fieldsync"
)

// MaxCursorBytes bounds an encoded cursor.
const MaxCursorBytes = 8 << 10

// Cursor is where a device stands in its tenant's change log. It travels
// opaque and HMAC-signed, so a forged or garbled cursor is refused.
type Cursor struct {
	// Tenant and User bind the cursor to its owner.
	Tenant string `json:"t"`
	User   string `json:"u"`
	// Pos: every change at or below it has been handed out.
	Pos int64 `json:"p"`
	// Own: the device's own changes above Pos handed out early (read-your-writes).
	Own int64 `json:"o,omitempty"`
	// Role and Sites are the scope the device last synced with; a change of
	// either starts a rescan of the gained or lost part.
	Role  fieldsync.Role `json:"r"`
	Sites []string       `json:"s,omitempty"`
	// Issued is when the cursor was handed out (unix seconds); older than the
	// retention it is expired.
	Issued int64 `json:"i"`
	// Scan, when set, is a bootstrap or scope rescan in progress.
	Scan *Scan `json:"x,omitempty"`
	// Aged (unix ms), for a guard: the inspections of their sites created
	// before it have been sent as delete once they left the guard's window
	// (see ageOut).
	Aged int64 `json:"a,omitempty"`
	// AgedKey, with Aged, is where a look cut short by a page resumes (the
	// last record handed out, in creation time then key order).
	AgedKey string `json:"ak,omitempty"`
	// KeyID names the key that signed the cursor (EncodeCursor sets it): a
	// cursor signed under a key the server no longer has — its cursor key
	// was reset after the database was restored from a backup — expires
	// instead of being refused as forged, so the phone bootstraps again.
	KeyID string `json:"k,omitempty"`
}

// Scan walks records by position regardless of Pos: a bootstrap (upserts of
// everything readable) or, after a scope change, the sites gained or lost.
type Scan struct {
	// Coll is the synced collection being walked (the first one when empty);
	// the walk goes through them in name order.
	Coll string `json:"c,omitempty"`
	From int64  `json:"f"`
	// Sites limits the scan (nil: every site of the scope).
	Sites []string `json:"s,omitempty"`
	// Boot scans send upserts only.
	Boot bool `json:"b,omitempty"`
	// Held: Coll is being walked in the store's own order, which only the
	// query held for this cursor can continue (ByPositionOrCheaper); Walked
	// counts the records it went through, so that each page's cursor differs
	// (a retried page must not find the query its first answer continued).
	Held   bool  `json:"h,omitempty"`
	Walked int64 `json:"w,omitempty"`
	// Was, for a rescan, are the scopes the device synced with before the
	// change: a record the caller cannot read now is sent as delete only
	// when one of them could read it, so a device never learns the id of a
	// record it could not have held. Empty (a rescan begun before Was
	// existed): a delete for every live record the caller cannot read.
	Was []Scope `json:"was,omitempty"`
}

// Scope is a scope a device synced with: role, sites (nil for an admin)
// and, for a guard, the aging edge its cursor had reached (Cursor.Aged).
type Scope struct {
	Role  fieldsync.Role `json:"r"`
	Sites []string       `json:"s,omitempty"`
	Aged  int64          `json:"a,omitempty"`
}

// rescanFor is the rescan a pull with cursor cur starts for the scope change
// sc: it remembers the scope cur synced with, and takes over a rescan still
// under way (its sites too, walked again from the start) instead of
// dropping it.
func rescanFor(cur Cursor, sc *Scan) *Scan {
	sc.Was = []Scope{{Role: cur.Role, Sites: cur.Sites, Aged: cur.Aged}}
	if prev := cur.Scan; prev != nil && !prev.Boot {
		if len(prev.Was) == 0 {
			sc.Was = nil // it promised a delete for everything unreadable
		} else {
			sc.Was = append(sc.Was, prev.Was...)
		}
		if prev.Sites == nil || sc.Sites == nil {
			sc.Sites = nil
		} else {
			all := append(slices.Clone(prev.Sites), sc.Sites...)
			slices.Sort(all)
			sc.Sites = slices.Compact(all)
		}
	}
	return sc
}

// keyID names key without revealing it: the first 6 bytes of its SHA-256.
func keyID(key []byte) string {
	sum := sha256.Sum256(key)
	return base64.RawURLEncoding.EncodeToString(sum[:6])
}

// EncodeCursor signs and encodes c (under key, which it names in c.KeyID).
func EncodeCursor(key []byte, c Cursor) string {
	c.KeyID = keyID(key)
	b, _ := json.Marshal(c)
	mac := hmac.New(sha256.New, key)
	mac.Write(b)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

// DecodeCursor verifies and decodes s: invalid_input naming "cursor" for
// anything not signed by key, except cursor_expired for a well-formed
// cursor naming another key (issued before the cursor key was reset).
func DecodeCursor(key []byte, s string) (Cursor, error) {
	bad := fieldsync.FieldErrorf("cursor", "invalid cursor; pull without one to bootstrap")
	if len(s) > MaxCursorBytes {
		return Cursor{}, bad
	}
	body, sig, ok := strings.Cut(s, ".")
	if !ok {
		return Cursor{}, bad
	}
	b, err1 := base64.RawURLEncoding.Strict().DecodeString(body)
	got, err2 := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err1 != nil || err2 != nil {
		return Cursor{}, bad
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(b)
	var c Cursor
	if err := json.Unmarshal(b, &c); err != nil || c.Pos < 0 || c.Own < 0 {
		return Cursor{}, bad
	}
	if !hmac.Equal(got, mac.Sum(nil)[:16]) {
		if c.KeyID != "" && c.KeyID != keyID(key) {
			return Cursor{}, fieldsync.Errorf(fieldsync.ECursorExpired, "cursor issued under a cursor key this server no longer has (its database was restored from a backup); pull without a cursor to bootstrap")
		}
		return Cursor{}, bad
	}
	return c, nil
}

// scopeChange compares the cursor's scope with the caller's current one and
// returns the rescan it needs, or nil.
func scopeChange(cur Cursor, c *fieldsync.Caller) *Scan {
	sites := sortedSites(c)
	if cur.Role == c.Role && slices.Equal(cur.Sites, sites) {
		return nil
	}
	if cur.Role == fieldsync.RoleAdmin || c.Role == fieldsync.RoleAdmin {
		return &Scan{} // every site of the tenant
	}
	if cur.Role != c.Role {
		all := append(slices.Clone(cur.Sites), sites...)
		slices.Sort(all)
		return &Scan{Sites: slices.Compact(all)}
	}
	var diff []string
	for _, s := range sites {
		if !slices.Contains(cur.Sites, s) {
			diff = append(diff, s)
		}
	}
	for _, s := range cur.Sites {
		if !slices.Contains(sites, s) {
			diff = append(diff, s)
		}
	}
	return &Scan{Sites: diff}
}

func sortedSites(c *fieldsync.Caller) []string {
	if c.Role == fieldsync.RoleAdmin {
		return nil
	}
	s := slices.Clone(c.SiteIDs)
	slices.Sort(s)
	return slices.Compact(s)
}
