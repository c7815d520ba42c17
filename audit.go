package fieldsync

import (
	"context"
	"encoding/json"
	"time"
)

// DefaultAuditRetention is how long audit entries are kept (two years).
const DefaultAuditRetention = 17520 * time.Hour

// AuditChange is one field of a record changed by one version: its value
// before and after (null: absent).
type AuditChange struct {
	Field string          `json:"field"`
	Old   json.RawMessage `json:"old"`
	New   json.RawMessage `json:"new"`
	// Appended marks an append-only list (a timeline, photos, scans): New
	// holds only the elements this version added and Old is null, so a
	// long timeline is not copied into every entry.
	Appended bool `json:"appended,omitempty"`
}

// AuditEntry is one accepted change of one synced record: who made it, from
// which device, when (server time and the device's time), through which
// mutation, and which fields went from what to what. Entries of a record form
// a hash chain: PrevHash is the Hash of the entry of its previous version.
type AuditEntry struct {
	Collection string `json:"collection"`
	RecordID   string `json:"record_id"`
	SiteID     string `json:"site_id"`
	Version    int64  `json:"version"`
	// Op is create, update, delete or action (Action names it); a server
	// write (a job, an action's write to another record) is create or update.
	Op         string        `json:"op"`
	Action     string        `json:"action,omitempty"`
	MutationID string        `json:"mutation_id,omitempty"`
	UserID     string        `json:"user_id"`
	UserName   string        `json:"user_name,omitempty"`
	DeviceID   string        `json:"device_id"`
	At         time.Time     `json:"at"`
	ClientTime string        `json:"client_time,omitempty"`
	Changes    []AuditChange `json:"changes"`
	PrevHash   string        `json:"prev_hash"`
	Hash       string        `json:"hash"`
}

// AuditProblem is a broken link found by verifying audit chains.
type AuditProblem struct {
	Collection string `json:"collection"`
	RecordID   string `json:"record_id"`
	Version    int64  `json:"version"`
	Detail     string `json:"detail"`
}

// AuditVerification is the outcome of verifying the audit chains of a tenant
// (or of one collection, or one record).
type AuditVerification struct {
	Records int64 `json:"records"`
	Entries int64 `json:"entries"`
	// Uncommitted are entries written for a version that never committed (its
	// writer lost a race or died before writing the record): not tampering,
	// and never shown as history.
	Uncommitted int64          `json:"uncommitted"`
	Problems    []AuditProblem `json:"problems"`
}

// AuditService reads the audit trail. Nobody writes it but the sync engine.
type AuditService interface {
	// RecordAudit returns the committed entries of one record, newest first;
	// not_found unless the caller is a supervisor, manager or admin who may
	// read the record (its site).
	RecordAudit(ctx context.Context, collection, id string) ([]AuditEntry, error)
}

// CanReadAudit reports whether c may read the audit trail of records of site:
// supervisors, managers and admins of that site (not customer service).
func CanReadAudit(c *Caller, site string) bool {
	return c != nil && c.Role.IsSupervisory() && c.HasSite(site)
}
