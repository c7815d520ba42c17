package sync

import (
	"context"
	"time"
)

// The engine keeps its state through the small interfaces below, which a
// database adapter implements (mongodb.SyncStore): sync itself knows no
// database, and whatever a particular database needs to run the protocol
// fast is the adapter's business. Every method returns nil or a
// *fieldsync.Error with one of the codes its comment names — never a
// driver's error.

// Store is everything an engine keeps. Open calls Start once, before
// anything else.
type Store interface {
	RecordStore
	PositionStore
	ChangeLog
	AuditStore
	LeaseStore
	// Start readies the store for an engine with schema's collections
	// (their declarations type the stored values: times as dates, GPS as
	// points) and rewrites records an earlier version stored in another
	// layout, calling schema.Fault(FaultMigrating) before each batch it
	// copies. It returns how many records it rewrote. Codes: unavailable,
	// internal.
	Start(ctx context.Context, schema Schema) (migrated int, err error)
	// CursorKey returns the cursor signing key every engine on the store
	// shares, storing key first when there is none yet. Codes: unavailable,
	// internal.
	CursorKey(ctx context.Context, key []byte) ([]byte, error)
}

// Schema is what Start tells the store about the engine.
type Schema struct {
	// Collections are the engine's declared collections.
	Collections []*Collection
	// Fault, when set, is called at the Fault* points the store meets
	// (tests crash there).
	Fault func(point string)
}

// RecordStore keeps the records. A record carries the position of its
// latest change, so the records are their own change log.
type RecordStore interface {
	// Load returns the stored records of keys, all of collection coll
	// (deleted ones too); a key with no record is left out. Codes:
	// unavailable, internal.
	Load(ctx context.Context, coll string, keys []string) ([]*Record, error)
	// Find returns tenant's records of coll (of every declared collection
	// when coll is "") that q matches, in q.Order, at most q.Limit of them.
	// Codes: unavailable, internal.
	Find(ctx context.Context, tenant, coll string, q Query) ([]*Record, error)
	// Walk opens a cursor over tenant's records of coll that q matches, in
	// q.Order, read from the database q.Batch at a time. Codes: unavailable,
	// internal.
	Walk(ctx context.Context, tenant, coll string, q Query) (RecordCursor, error)
	// Commit writes one group commit: the audit entries of the new versions
	// first (a committed version always has its entry), then the records —
	// a new one inserted, a changed one replaced only while the stored
	// version is still the one it was loaded at — then, for those that
	// landed, their entries in the change log. lost[i] reports that
	// another writer got to c.Records[i] first (nothing of it was written).
	// It calls Schema.Fault at FaultInserted and FaultWritten. Codes:
	// unavailable, internal.
	Commit(ctx context.Context, c Commit) (lost []bool, err error)
}

// RecordCursor hands out the records of a Walk one at a time.
type RecordCursor interface {
	// Next returns the next record, or nil after the last. Codes:
	// unavailable (the database ended the cursor: a restart, its timeout),
	// internal.
	Next(ctx context.Context) (*Record, error)
	// ByPosition reports whether the records come in position order (a
	// walk of ByPositionOrCheaper may come in the store's own order).
	ByPosition() bool
	// Close ends the cursor.
	Close(ctx context.Context) error
}

// Order is the order of a query's records.
type Order int

// Orders of a query.
const (
	// AnyOrder is the store's own order.
	AnyOrder Order = iota
	// ByPosition is by the position of the latest change.
	ByPosition
	// ByCreation is by creation time, then key.
	ByCreation
	// ByPositionOrCheaper is ByPosition, or the store's own order when it
	// walks the records that way much sooner (RecordCursor.ByPosition says
	// which it chose).
	ByPositionOrCheaper
)

// Query selects records by what the protocol knows of them. Zero fields
// select nothing out.
type Query struct {
	// Keys keeps the records with these keys (tenant/collection/id).
	Keys []string
	// Sites, when not nil, keeps the records of these sites.
	Sites []string
	// Live keeps the records not deleted.
	Live bool
	// After keeps the records changed last at a position above it; Upto,
	// when set, at or below it — or, when Device is set too, above
	// OwnAbove by that device (read-your-writes).
	After, Upto int64
	Device      string
	OwnAbove    int64
	// Equal keeps the records whose fields hold these values.
	Equal map[string]any
	// In keeps the records whose field holds one of the listed values, for
	// every field it names; a nil among them matches a field the record
	// does not hold (or holds as null). The values are the field's as
	// stored: strings, booleans or integers. The server jobs select with it
	// the records whose state lets time still change them (field.Jobs).
	In map[string][]any
	// CitesAny keeps the records citing any of these media ids; CitesMedia
	// those citing any media.
	CitesAny   []string
	CitesMedia bool
	// CreatedFrom and CreatedBefore bound the creation time (zero:
	// unbounded). With CreatedFrom, CreatedAfterKey leaves out the records
	// created exactly then whose key is not above it (paging ByCreation).
	CreatedFrom, CreatedBefore time.Time
	CreatedAfterKey            string
	// Mine, when not nil, keeps only the records it names: a guard's or a
	// technician's read scope, so that their bootstrap reads their records,
	// not every record of their sites.
	Mine  *Mine
	Order Order
	// Limit bounds how many records Find returns (0: all).
	Limit int
	// Batch is how many records a Walk reads from the database at a time
	// (0: the store's default).
	Batch int
}

// Mine selects the records of one user's read scope (fieldsync.ReadScope):
// those User created (Creator), is assigned to (Assignee), or that were
// created at or after Since (when not zero) — any of these.
type Mine struct {
	User              string
	Creator, Assignee bool
	Since             time.Time
}

// Commit is one group commit of a tenant: records under freshly reserved
// positions and the sealed audit entries of their versions.
type Commit struct {
	Tenant  string
	Records []Put
	Audit   []*AuditLink
}

// Put is one record of a Commit.
type Put struct {
	Record *Record
	// Replaces is the stored version the record was loaded at; 0: the
	// record is new and is inserted.
	Replaces int64
}

// PositionStore keeps each tenant's counter: the positions handed out, the
// live reservations of positions being written, each device's last
// released push, and the change log's "logged from" mark.
type PositionStore interface {
	// Reserve adds n to tenant's counter and records r in the same atomic
	// update (also ending the reservation end names, when not nil); it
	// returns the counter's new value. Codes: unavailable, internal.
	Reserve(ctx context.Context, tenant string, n int, r Reservation, end *Release) (int64, error)
	// Release ends a reservation and raises its devices' last-push marks.
	// Codes: unavailable, internal.
	Release(ctx context.Context, tenant string, rel Release) error
	// Counter reads tenant's counter (the zero Counter when it has none).
	// Codes: unavailable, internal.
	Counter(ctx context.Context, tenant string) (Counter, error)
	// Head reads the value of tenant's counter alone (0 when it has none).
	// Codes: unavailable, internal.
	Head(ctx context.Context, tenant string) (int64, error)
	// Forget removes tenant's reservations of tokens. Codes: unavailable,
	// internal.
	Forget(ctx context.Context, tenant string, tokens []string) error
	// Counters returns every tenant's counter with its reservations (no
	// marks). Codes: unavailable, internal.
	Counters(ctx context.Context) ([]Counter, error)
}

// Counter is a tenant's counter.
type Counter struct {
	Tenant string
	// Head is the highest position handed out.
	Head int64
	// Reservations are the live reservations by token.
	Reservations map[string]Reservation
	// Pushed is each device's highest released position, by deviceKey.
	Pushed map[string]int64
	// Logged is the change log's "logged from" mark: the log holds every
	// position above it.
	Logged int64
}

// Reservation is a range of positions a writer holds.
type Reservation struct {
	Token string
	// Lower is a lower bound of the positions reserved: pullers stop below it.
	Lower int64
	// Expires is when pullers stop waiting for the writer.
	Expires time.Time
	// Instance names the engine that made it (Options.Instance), or "".
	Instance string
}

// Release ends the reservation Token and records the highest position each
// device of it has written (by deviceKey).
type Release struct {
	Token  string
	Pushed map[string]int64
}

// ChangeLog is the recent change log: the last positions of each tenant
// kept apart from the records, so that a device a little behind is served
// without reading the records.
type ChangeLog interface {
	// ReadLog returns tenant's records logged at from < position ≤ to, in
	// position order, each once at its latest version in that range; ok is
	// false when the log no longer holds every position above from (it was
	// trimmed). Codes: unavailable, internal.
	ReadLog(ctx context.Context, tenant string, from, to int64) (recs []*Record, ok bool, err error)
	// TrimLog raises tenant's "logged from" mark to below, forgets the
	// last-push marks at or below it, and then removes the log's entries at
	// or below it. Codes: unavailable, internal.
	TrimLog(ctx context.Context, tenant string, below int64) error
	// Relog logs again every record of tenant at or after position from
	// (after a writer died between writing its records and logging them)
	// and returns how many. Codes: unavailable, internal.
	Relog(ctx context.Context, tenant string, from int64) (int, error)
}

// AuditStore keeps the audit entries (audit.go). Commit writes them.
type AuditStore interface {
	// AuditOf returns tenant's entries of collection coll, of record id
	// only when id is not "". Codes: unavailable, internal.
	AuditOf(ctx context.Context, tenant, coll, id string) ([]*AuditLink, error)
	// SweepAudit removes tenant's entries made before cutoff. Codes:
	// unavailable, internal.
	SweepAudit(ctx context.Context, tenant string, cutoff time.Time) error
}

// LeaseStore keeps leases: a name held by one holder until it expires.
type LeaseStore interface {
	// Claim takes or renews lease name for holder until now+ttl, and
	// reports false when another holder's lease has not expired at now.
	// Codes: unavailable, internal.
	Claim(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
}
