package sync

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fieldsync"
	"fieldsync/mongodb"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
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

// Store collection names.
const (
	// RecordsCollection held every record before they were kept one collection
	// per synced collection (RecordsCollectionFor); Open moves what it finds there.
	RecordsCollection  = "sync_records"
	CountersCollection = "sync_counters"
	metaCollection     = "fieldsync_meta"
)

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
	// UnsortedScans walks a bootstrap's collections in the database's own
	// order instead of by position: the first page comes without waiting for
	// the database to sort the whole collection, which the embedded FerretDB
	// does by reading all of it first (real MongoDB walks its index, so it
	// is off there). Such a walk goes on only through the query its previous
	// page left open (held.go); a page that finds it gone (another instance,
	// a retried page, an idle walk) walks that collection again by position,
	// from its start.
	UnsortedScans bool
	// PointLoads reads the few records a push must know one _id look-up at
	// a time instead of one $in query: the embedded FerretDB evaluates a
	// lone _id filter inside SQLite but decodes the whole collection for an
	// $in (measured at 20,000 records: ~0.1 s against ~1 s).
	PointLoads bool
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
	// Fault, when set, is called at the Fault* points of a push (tests crash there).
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

// Engine is the sync engine over one MongoDB database.
type Engine struct {
	opts     Options
	colls    map[string]*Collection
	names    []string
	db       *mongo.Database
	counters *mongo.Collection
	logs     *mongo.Collection // the recent change log (log.go)
	key      []byte
	now      func() time.Time
	log      *slog.Logger
	// seen is the highest counter value this instance has observed per tenant:
	// a lower bound for the positions of any reservation made after it.
	seen    sync.Map // tenant → *atomic.Int64
	hub     *hub
	held    heldQueries
	commits committer
}

var _ fieldsync.SyncService = (*Engine)(nil)
var _ fieldsync.CitationFinder = (*Engine)(nil)

// Open builds an engine on db, validating every collection declaration.
func Open(ctx context.Context, db *mongo.Database, opts Options) (*Engine, error) {
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
	e := &Engine{opts: opts, colls: map[string]*Collection{}, db: db,
		counters: db.Collection(CountersCollection), logs: db.Collection(LogCollection), now: opts.Now, log: opts.Logger}
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
	e.key = opts.CursorKey
	if e.key == nil {
		k, err := sharedKey(ctx, db.Collection(metaCollection))
		if err != nil {
			return nil, err
		}
		e.key = k
	}
	e.hub = newHub(e)
	if err := e.migrateRecords(ctx); err != nil {
		return nil, err
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
	type counter struct {
		Tenant string `bson:"_id"`
		R      map[string]struct {
			LB int64  `bson:"lb"`
			In string `bson:"in"`
		} `bson:"r"`
	}
	docs, err := findAll[counter](ctx, e.counters, bson.M{}, options.Find().SetProjection(bson.M{"r": 1}))
	if err != nil {
		return err
	}
	for _, d := range docs {
		dead := bson.M{}
		lowest := int64(0)
		for tok, r := range d.R {
			if r.In != e.opts.Instance {
				continue
			}
			dead["r."+tok] = ""
			if lowest == 0 || r.LB < lowest {
				lowest = r.LB
			}
		}
		if len(dead) == 0 {
			continue
		}
		e.log.Warn("sync: releasing the change-log reservations this instance held when it stopped", "tenant", d.Tenant, "instance", e.opts.Instance, "count", len(dead))
		if err := e.repairLog(ctx, d.Tenant, lowest); err != nil {
			return err
		}
		if _, err := e.counters.UpdateOne(ctx, bson.M{"_id": d.Tenant}, bson.M{"$unset": dead}); err != nil {
			return storeError(err)
		}
	}
	return nil
}

// sharedKey returns the cursor signing key stored in the database, creating it once.
func sharedKey(ctx context.Context, meta *mongo.Collection) ([]byte, error) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	_, err := meta.UpdateOne(ctx, bson.M{"_id": "sync_cursor_key"},
		bson.M{"$setOnInsert": bson.M{"key": hex.EncodeToString(b)}}, options.UpdateOne().SetUpsert(true))
	if err := storeError(err); err != nil && fieldsync.ErrorCode(err) != fieldsync.EConflict {
		return nil, err
	}
	var doc struct{ Key string }
	if err := meta.FindOne(ctx, bson.M{"_id": "sync_cursor_key"}).Decode(&doc); err != nil {
		return nil, storeError(err)
	}
	return hex.DecodeString(doc.Key)
}

// RecordsCollectionFor names the database collection holding the records of
// the synced collection coll: the synced collection's own name
// (inspections, work_orders, …), so a person with mongosh finds them. One per
// synced collection, which also lets the embedded database, which scans a
// whole collection for every lookup, scan only the work orders to edit one.
func RecordsCollectionFor(coll string) string { return coll }

func (e *Engine) recsFor(coll string) *mongo.Collection {
	return e.db.Collection(RecordsCollectionFor(coll))
}

// findAll returns every document of coll matching filter.
func findAll[T any](ctx context.Context, coll *mongo.Collection, filter any, opts ...options.Lister[options.FindOptions]) ([]T, error) {
	cur, err := coll.Find(ctx, filter, opts...)
	if err != nil {
		return nil, storeError(err)
	}
	var out []T
	if err := cur.All(ctx, &out); err != nil {
		return nil, storeError(err)
	}
	return out, nil
}

// findEach returns the documents matching filter in every synced
// collection's records.
func findEach[T any](ctx context.Context, e *Engine, filter bson.M) ([]T, error) {
	var out []T
	for _, name := range e.names {
		some, err := findAll[T](ctx, e.recsFor(name), filter)
		if err != nil {
			return nil, err
		}
		out = append(out, some...)
	}
	return out, nil
}

// findRecords is findEach for records, ready for the engine.
func (e *Engine) findRecords(ctx context.Context, filter bson.M) ([]*Record, error) {
	recs, err := findEach[*Record](ctx, e, filter)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if err := normalizeRecord(r); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// collOfKey is the synced collection of a record key (tenant/collection/id).
func collOfKey(k string) string {
	_, rest, _ := strings.Cut(k, "/")
	c, _, _ := strings.Cut(rest, "/")
	return c
}

// migrateRecords rewrites the records earlier versions stored — in the one
// records collection of old (RecordsCollection), then in one collection per
// synced collection named sync_records_<name> with short names and packed
// fields — into the readable layout (layout.go), in the collection named
// after their synced collection. Each record is copied (insert, a record
// already there is kept: it was copied by a run that died, or changed since
// by a live instance) before its old collection is dropped, so a kill at any
// point loses nothing and the next start goes on. Idempotent.
func (e *Engine) migrateRecords(ctx context.Context) error {
	olds := []string{RecordsCollection}
	for _, n := range e.names {
		olds = append(olds, legacyRecordsPrefix+n)
	}
	moved := 0
	for _, old := range olds {
		n, err := e.migrateFrom(ctx, e.db.Collection(old))
		if err != nil {
			return err
		}
		moved += n
	}
	if moved > 0 {
		e.log.Info("sync: rewrote records in the readable layout", "records", moved)
		_, err := e.db.Collection(metaCollection).UpdateOne(ctx, bson.M{"_id": "migrations"},
			bson.M{"$set": bson.M{"readable_records": e.now().UTC()}}, options.UpdateOne().SetUpsert(true))
		if err != nil {
			return storeError(err)
		}
	}
	return nil
}

// legacyRecordsPrefix named the records collections before the readable layout.
const legacyRecordsPrefix = "sync_records_"

// migrateBatch is how many records the migration copies per insert.
const migrateBatch = 500

// migrateFrom copies old's records into their collections and drops old.
func (e *Engine) migrateFrom(ctx context.Context, old *mongo.Collection) (int, error) {
	cur, err := old.Find(ctx, bson.M{}, options.Find().SetBatchSize(migrateBatch))
	if err != nil {
		return 0, storeError(err)
	}
	defer cur.Close(ctx)
	n := 0
	by := map[string][]any{}
	flush := func(c string) error {
		docs := by[c]
		if len(docs) == 0 {
			return nil
		}
		by[c] = nil
		e.fault(FaultMigrating)
		_, err := e.recsFor(c).InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
		if _, ok := mongodb.DuplicateKeys(err); ok {
			return nil
		}
		return storeError(err)
	}
	for cur.Next(ctx) {
		r := new(Record)
		if err := cur.Decode(r); err != nil {
			return n, storeError(err)
		}
		if err := normalizeRecord(r); err != nil {
			return n, err
		}
		doc, err := r.encode(e.colls[r.Collection])
		if err != nil {
			return n, err
		}
		by[r.Collection] = append(by[r.Collection], doc)
		n++
		if len(by[r.Collection]) >= migrateBatch {
			if err := flush(r.Collection); err != nil {
				return n, err
			}
		}
	}
	if err := cur.Err(); err != nil {
		return n, storeError(err)
	}
	for c := range by {
		if err := flush(c); err != nil {
			return n, err
		}
	}
	if n == 0 {
		return 0, nil
	}
	return n, storeError(old.Drop(ctx))
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

// storeError is the store's one error mapper (mongodb.MapError).
func storeError(err error) error { return mongodb.MapError(err) }

func (e *Engine) seenFor(tenant string) *atomic.Int64 {
	v, _ := e.seen.LoadOrStore(tenant, new(atomic.Int64))
	return v.(*atomic.Int64)
}

func (e *Engine) observe(tenant string, n int64) {
	s := e.seenFor(tenant)
	for {
		old := s.Load()
		if n <= old || s.CompareAndSwap(old, n) {
			return
		}
	}
}

// observeCounter reads the tenant's counter value into what this instance has seen.
func (e *Engine) observeCounter(ctx context.Context, tenant string) error {
	var doc struct {
		N int64 `bson:"n"`
	}
	err := e.counters.FindOne(ctx, bson.M{"_id": tenant}, options.FindOne().SetProjection(bson.M{"n": 1})).Decode(&doc)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return storeError(err)
	}
	e.observe(tenant, doc.N)
	return nil
}

// reservation is a range of change-log positions a push is writing.
type reservation struct {
	tenant, token string
	lo, hi        int64
	devices       []string // who writes: their last push position is recorded at release
}

// reserve allocates k positions with one atomic $inc on the tenant's counter,
// recording in the same update a live reservation whose lower bound (lb) is
// the highest counter value this instance has seen: lb ≤ lo, so pullers that
// stop below lb never pass a position that is not yet written. An instance
// that has not seen the tenant's counter yet reads it first: a lower bound of
// 1 would hold every puller back to position 0 until the write is released.
// ending, when not nil, is released in the same update (see release).
func (e *Engine) reserve(ctx context.Context, tenant string, k int, ending *reservation) (reservation, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	if e.seenFor(tenant).Load() == 0 {
		if err := e.observeCounter(ctx, tenant); err != nil {
			return reservation{}, err
		}
	}
	lb := e.seenFor(tenant).Load() + 1
	exp := e.now().Add(e.opts.ReservationTTL)
	entry := bson.M{"lb": lb, "exp": exp}
	if e.opts.Instance != "" {
		entry["in"] = e.opts.Instance
	}
	update := bson.M{"$inc": bson.M{"n": int64(k)}, "$set": bson.M{"r." + tok: entry}}
	if ending != nil {
		maps.Copy(update, ending.releasing())
	}
	var doc struct {
		N int64 `bson:"n"`
	}
	err := e.counters.FindOneAndUpdate(ctx, bson.M{"_id": tenant}, update,
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&doc)
	if err != nil {
		return reservation{}, storeError(err)
	}
	e.observe(tenant, doc.N)
	return reservation{tenant: tenant, token: tok, lo: doc.N - int64(k) + 1, hi: doc.N}, nil
}

// release ends r and records the highest position its devices have written
// (a held pull query of such a device is not continued past a newer push).
func (e *Engine) release(ctx context.Context, r reservation) error {
	_, err := e.counters.UpdateOne(ctx, bson.M{"_id": r.tenant}, r.releasing())
	return storeError(err)
}

// releasing is the counter update that ends r.
func (r reservation) releasing() bson.M {
	pushed := bson.M{}
	for _, d := range r.devices {
		pushed["w."+deviceKey(d)] = r.hi
	}
	return bson.M{"$unset": bson.M{"r." + r.token: ""}, "$max": pushed}
}

// deviceKey is a device's key in the counter's map of last pushes: a hash, so
// any device id is a safe field name.
func deviceKey(device string) string {
	h := sha256.Sum256([]byte(device))
	return hex.EncodeToString(h[:8])
}

// mark is what a puller needs from the tenant's counter.
type mark struct {
	hw   int64 // every change at or below it is visible
	head int64 // the highest position handed out
	// pushed is each device's highest written position (by deviceKey).
	pushed map[string]int64
	// logged: the recent change log holds every position above it.
	logged int64
}

func (m mark) pushedBy(device string) int64 { return m.pushed[deviceKey(device)] }

// pushedByOthers is the highest position written and released by a device
// other than device: an acknowledged change of someone else up to there.
func (m mark) pushedByOthers(device string) int64 {
	own, top := deviceKey(device), int64(0)
	for k, p := range m.pushed {
		if k != own {
			top = max(top, p)
		}
	}
	return top
}

// highWater returns the position up to which every change of tenant is
// visible: the counter's value, held below the lowest live reservation. An
// expired reservation (its writer died, or overran the TTL) no longer holds
// pullers back and is removed.
func (e *Engine) highWater(ctx context.Context, tenant string) (mark, error) {
	var doc struct {
		N int64 `bson:"n"`
		R map[string]struct {
			LB  int64     `bson:"lb"`
			Exp time.Time `bson:"exp"`
		} `bson:"r"`
		W  map[string]int64 `bson:"w"`
		LT int64            `bson:"lt"`
	}
	err := e.counters.FindOne(ctx, bson.M{"_id": tenant}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return mark{}, nil
	}
	if err != nil {
		return mark{}, storeError(err)
	}
	e.observe(tenant, doc.N)
	hw := doc.N
	now := e.now()
	expired := bson.M{}
	lowest := int64(0)
	for tok, r := range doc.R {
		if !r.Exp.After(now) {
			expired["r."+tok] = ""
			if lowest == 0 || r.LB < lowest {
				lowest = r.LB
			}
			continue
		}
		hw = min(hw, r.LB-1)
	}
	if len(expired) > 0 {
		e.log.Warn("sync: skipping expired change-log reservations; their writers died", "tenant", tenant, "count", len(expired))
		// Their records may be written but not logged: log them before
		// pullers pass their positions.
		if err := e.repairLog(ctx, tenant, lowest); err != nil {
			return mark{}, err
		}
		if _, err := e.counters.UpdateOne(ctx, bson.M{"_id": tenant}, bson.M{"$unset": expired}); err != nil {
			return mark{}, storeError(err)
		}
	}
	return mark{hw: max(hw, 0), head: doc.N, pushed: doc.W, logged: doc.LT}, nil
}
