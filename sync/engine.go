package sync

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"fieldsync"
)

// Limits of the sync protocol, published by Config.
const (
	MaxMutations   = 500
	MaxPushBytes   = 4 << 20
	DefaultLimit   = 500
	MaxLimit       = 1000
	CurrentSchema  = 1
	DefaultTTL     = 30 * time.Second
	DefaultRetain  = 720 * time.Hour
	DefaultPoll    = 500 * time.Millisecond
	DefaultMaxSubs = 4
)

// SchemaVersions are the app schema versions the server accepts.
var SchemaVersions = []int{1}

// Fault points passed to Options.Fault (tests inject crashes there).
const (
	FaultReserved = "reserved" // positions reserved, nothing written
	FaultInserted = "inserted" // new records inserted, updates not yet written
	FaultWritten  = "written"  // every record written, reservation not yet released
	// FaultMigrating is met before each batch the start-up migration copies.
	FaultMigrating = "migrating"
)

// Options configure an Engine. Zero values mean defaults.
type Options struct {
	// Collections are the declared collections (the field package declares
	// the property-management ones); none: the engine serves nothing.
	Collections []*Collection
	// Retention keeps tombstones and honours cursors this long (default 720h).
	Retention time.Duration
	// ReservationTTL bounds how long a reserved, unwritten position holds
	// pullers back when its writer died (default 30s). Writes after a
	// reservation must finish within half of it.
	ReservationTTL time.Duration
	// LogWindow is how many of a tenant's latest positions the recent change
	// log keeps (default DefaultLogWindow); a device further behind is served
	// from the records.
	LogWindow int
	// PollInterval is how often live subscriptions look at the change log head (default 500ms).
	PollInterval time.Duration
	// MaxSubscriptions caps live event connections per user (default 4).
	MaxSubscriptions int
	// CursorKey signs cursors; nil means a random key kept in the database,
	// shared by every API instance on it.
	CursorKey []byte
	// Cites, when set, decides whether a mutation may newly cite media that
	// exists (cite.go); nil lets any id be cited.
	Cites fieldsync.CiteChecker
	// Now is the clock (tests inject one).
	Now    func() time.Time
	Logger *slog.Logger
	// Fault, when set, is called at the Fault* points of a push and of the
	// start-up migration (tests crash there).
	Fault func(point string)
	// Instance names this process across its restarts (cmd derives it from
	// the host, the listen address and the data dir). Its reservations carry
	// the name, and Open releases those a previous run under the same name
	// left — logging their records again first, as for an expired one: that
	// run is dead, so pullers need not wait ReservationTTL for them. Empty:
	// unnamed reservations, a dead writer's expire. Two live engines must
	// never share a name (each would release the other's reservations).
	Instance string
	// AuditRetention is how long audit entries are kept (default
	// fieldsync.DefaultAuditRetention, two years).
	AuditRetention time.Duration
}

// Engine is the sync engine over one Store.
type Engine struct {
	opts  Options
	colls map[string]*Collection
	names []string
	store Store
	key   []byte
	now   func() time.Time
	log   *slog.Logger
	// seen is the highest counter value this instance has observed per tenant:
	// a lower bound for the positions of any reservation made after it.
	seen sync.Map // tenant → *atomic.Int64
	// jobMarks is the high-water mark of the last run of the jobs per
	// tenant whose writes all landed (JobRun.Seen).
	jobMarks sync.Map // tenant → int64
	hub      *hub
	held     heldQueries
	commits  committer
}

var _ fieldsync.SyncService = (*Engine)(nil)
var _ fieldsync.CitationFinder = (*Engine)(nil)

// Open builds an engine on store, validating every collection declaration;
// the store moves what an earlier version left in another layout first.
func Open(ctx context.Context, store Store, opts Options) (*Engine, error) {
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetain
	}
	if opts.ReservationTTL <= 0 {
		opts.ReservationTTL = DefaultTTL
	}
	if opts.LogWindow <= 0 {
		opts.LogWindow = DefaultLogWindow
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPoll
	}
	if opts.MaxSubscriptions <= 0 {
		opts.MaxSubscriptions = DefaultMaxSubs
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	e := &Engine{opts: opts, colls: map[string]*Collection{}, store: store, now: opts.Now, log: opts.Logger}
	for _, c := range opts.Collections {
		if err := c.validate(); err != nil {
			return nil, err
		}
		if e.colls[c.Name] != nil {
			return nil, fmt.Errorf("sync: collection %s declared twice", c.Name)
		}
		e.colls[c.Name] = c
		e.names = append(e.names, c.Name)
	}
	sort.Strings(e.names)
	for _, role := range fieldsync.Roles {
		var windowed []string
		for _, name := range e.names {
			if fieldsync.ReadScopeOf(role, name).Window > 0 {
				windowed = append(windowed, name)
			}
		}
		if len(windowed) > 1 {
			// A cursor keeps one aging edge (Cursor.Aged).
			return nil, fmt.Errorf("sync: role %s reads %v by a window after creation; at most one collection may be", role, windowed)
		}
	}
	e.key = opts.CursorKey
	if e.key == nil {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		k, err := store.CursorKey(ctx, b)
		if err != nil {
			return nil, err
		}
		e.key = k
	}
	e.hub = newHub(e)
	moved, err := store.Start(ctx, Schema{Collections: opts.Collections, Fault: opts.Fault})
	if err != nil {
		return nil, err
	}
	if moved > 0 {
		e.log.Info("sync: rewrote records in the readable layout", "records", moved)
	}
	if err := e.healReservations(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// healReservations releases the reservations a previous run of this
// instance (Options.Instance) left when it died, after logging again the
// records it may have written without logging them.
func (e *Engine) healReservations(ctx context.Context) error {
	if e.opts.Instance == "" {
		return nil
	}
	counters, err := e.store.Counters(ctx)
	if err != nil {
		return err
	}
	for _, c := range counters {
		var dead []string
		lowest := int64(0)
		for tok, r := range c.Reservations {
			if r.Instance != e.opts.Instance {
				continue
			}
			dead = append(dead, tok)
			if lowest == 0 || r.Lower < lowest {
				lowest = r.Lower
			}
		}
		if len(dead) == 0 {
			continue
		}
		e.log.Warn("sync: releasing the change-log reservations this instance held when it stopped", "tenant", c.Tenant, "instance", e.opts.Instance, "count", len(dead))
		if err := e.relog(ctx, c.Tenant, lowest); err != nil {
			return err
		}
		if err := e.store.Forget(ctx, c.Tenant, dead); err != nil {
			return err
		}
	}
	return nil
}

// collOfKey is the synced collection of a record key (tenant/collection/id).
func collOfKey(k string) string {
	_, rest, _ := strings.Cut(k, "/")
	c, _, _ := strings.Cut(rest, "/")
	return c
}

// Collection returns a declared collection, or nil.
func (e *Engine) Collection(name string) *Collection { return e.colls[name] }

// Config returns the published limits.
func (e *Engine) Config() fieldsync.SyncConfig {
	return fieldsync.SyncConfig{
		MaxMutations: MaxMutations, MaxPushBytes: MaxPushBytes, MaxStringLength: DefaultMaxString,
		MaxClientSkew: int(MaxClientSkew.Seconds()), MaxClientAge: int(MaxClientAge.Seconds()),
		DefaultLimit: DefaultLimit, MaxLimit: MaxLimit,
		RetentionHours: e.opts.Retention.Hours(), Retention: e.opts.Retention.String(),
		SchemaVersions: SchemaVersions, CurrentSchema: CurrentSchema, Collections: e.names,
	}
}

func checkSchema(v int) error {
	if v == 0 {
		return nil
	}
	for _, s := range SchemaVersions {
		if s == v {
			return nil
		}
	}
	return fieldsync.Errorf(fieldsync.EUpgradeRequired, "schema version %d is not supported; accepted: %v", v, SchemaVersions)
}

func callerOf(ctx context.Context) (*fieldsync.Caller, error) {
	c := fieldsync.CallerFromContext(ctx)
	if c == nil || c.TenantID == "" || c.UserID == "" {
		return nil, fieldsync.Errorf(fieldsync.EUnauthorized, "no caller")
	}
	return c, nil
}
