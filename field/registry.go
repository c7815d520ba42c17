package field

import (
	"slices"

	"fieldsync"
	fsync "fieldsync/sync"
)

// registry is the one list of the synced collections: each one's
// declaration, and how the rest of the system treats its records. The
// engine's collections (Collections), the stores' indexes and the uploads'
// citations (Registry, wired by cmd/), the OpenAPI record schemas and the
// docs (tests check both) all derive from it: a collection added here gets
// every one of them.
var registry = []struct {
	declare func(Options) *fsync.Collection
	// evidence: an upload may name one of its records as the record the
	// evidence belongs to.
	evidence bool
	// dated: its records are read by creation time (the reports, a guard's
	// window of inspections).
	dated bool
}{
	{declare: plain(Sites), evidence: true},
	{declare: plain(Checkpoints), evidence: true},
	{declare: plain(PatrolRoutes), evidence: true},
	{declare: plain(PatrolRounds), evidence: true},
	{declare: Inspections, evidence: true, dated: true},
	{declare: WorkOrders, evidence: true, dated: true},
	{declare: Complaints, evidence: true, dated: true},
	{declare: plain(Units)},
	{declare: plain(Households)},
}

// plain adapts a declaration that needs no options.
func plain(declare func() *fsync.Collection) func(Options) *fsync.Collection {
	return func(Options) *fsync.Collection { return declare() }
}

// Collections declares every collection of the field domain, for the
// engine (sync.Options.Collections).
func Collections(opts Options) []*fsync.Collection {
	if opts.Deadlines != nil {
		ttl := opts.DeadlineTTL
		if ttl == 0 {
			ttl = DefaultDeadlineCacheTTL
		}
		opts.deadlines = &deadlineCache{src: opts.Deadlines, ttl: ttl, at: map[string]cachedDeadlines{}}
	}
	out := make([]*fsync.Collection, 0, len(registry))
	for _, r := range registry {
		out = append(out, r.declare(opts))
	}
	return out
}

// Registry is the registry of synced collections as the stores need it:
// each collection's name, whether uploads may cite its records (media/),
// whether its records name a unit (declare unit_id: indexed for a unit's
// history) and whether they are read by creation time (mongodb/ indexes
// them so). cmd/ passes it to mongodb.Options and media.Options.
func Registry() []fieldsync.SyncedCollection {
	out := make([]fieldsync.SyncedCollection, 0, len(registry))
	for _, r := range registry {
		c := r.declare(Options{})
		out = append(out, fieldsync.SyncedCollection{Name: c.Name, Evidence: r.evidence, Dated: r.dated,
			Units: slices.ContainsFunc(c.Fields, func(f fsync.Field) bool { return f.Name == "unit_id" })})
	}
	return out
}
