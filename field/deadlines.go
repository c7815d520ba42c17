package field

import (
	"context"
	"sort"
	"strings"
	gosync "sync"
	"time"

	"fieldsync"
	fsync "fieldsync/sync"
)

// DefaultDeadlineCacheTTL is how long the engine keeps a site's effective
// deadline settings: a change applies to records created at most this long
// after it (on every instance).
const DefaultDeadlineCacheTTL = 10 * time.Second

// deadlineCache keeps the effective settings per tenant and site for ttl,
// and serves the last good ones while the store is down.
type deadlineCache struct {
	src fieldsync.DeadlineFinder
	ttl time.Duration
	mu  gosync.Mutex
	at  map[string]cachedDeadlines
}

type cachedDeadlines struct {
	s       fieldsync.DeadlineSettings
	fetched time.Time
}

func (c *deadlineCache) get(ctx context.Context, tenant, site string) (fieldsync.DeadlineSettings, error) {
	k := tenant + "/" + site
	now := time.Now()
	c.mu.Lock()
	hit, ok := c.at[k]
	c.mu.Unlock()
	if ok && now.Sub(hit.fetched) < c.ttl {
		return hit.s, nil
	}
	s, err := c.src.EffectiveDeadlines(ctx, tenant, site)
	if err != nil {
		if ok {
			return hit.s, nil
		}
		return s, err
	}
	c.mu.Lock()
	c.at[k] = cachedDeadlines{s, now}
	c.mu.Unlock()
	return s, nil
}

// policyFor returns the deadlines in effect for a new record of tenant's
// site: the settings (cached), else Options.SLAs over the defaults.
// ok is false when they could not be read (the store is down and nothing is
// cached): the defaults then apply and are not kept on the record.
func (o Options) policyFor(ctx context.Context, tenant, site string) (map[string]int64, bool) {
	base := fieldsync.DefaultDeadlineSettings()
	for p, s := range o.SLAs[tenant] {
		base.WorkOrders[p] = fieldsync.SLAMinutes{RespondMinutes: int64(s.RespondWithin / time.Minute), ResolveMinutes: int64(s.ResolveWithin / time.Minute)}
	}
	if o.deadlines == nil {
		return base.Flat(), true
	}
	s, err := o.deadlines.get(ctx, tenant, site)
	if err != nil {
		return base.Flat(), false
	}
	return s.Over(base).Flat(), true
}

// deadlinePolicyField keeps on a record the deadlines in effect when it was
// created (named minutes, see fieldsync.DeadlineSettings.Flat): a later
// change of the settings never moves its deadlines.
var deadlinePolicyField = fsync.Field{Name: "deadline_policy", Kind: fsync.ObjectList, MaxItems: 50, Item: []fsync.Field{
	{Name: "name", Kind: fsync.String, Required: true}, {Name: "minutes", Kind: fsync.Int, Required: true}}}

// recordedAtField is when the staff member recorded the record on the
// device: the mutation's client_time, when earlier than the server's.
var recordedAtField = fsync.Field{Name: "recorded_at", Kind: fsync.Time}

// policy returns the record's kept deadlines, keeping the effective ones
// first if it has none yet (a new record, or one created before settings).
func policy(ctx context.Context, opts Options, r *fsync.Record) map[string]int64 {
	if items, ok := r.Get("deadline_policy").([]any); ok && len(items) > 0 {
		out := make(map[string]int64, len(items))
		for _, it := range items {
			m, _ := it.(map[string]any)
			name, _ := m["name"].(string)
			out[name] = intValue(m["minutes"])
		}
		return out
	}
	p, ok := opts.policyFor(ctx, r.Tenant, r.SiteID)
	// A record keeps only the deadlines of its kind.
	for name := range p {
		order := strings.HasPrefix(name, "work_order.")
		if order != (r.Collection == fieldsync.CollWorkOrders) {
			delete(p, name)
		}
	}
	if ok {
		items := make([]any, 0, len(p))
		for _, name := range sortedKeys(p) {
			items = append(items, map[string]any{"name": name, "minutes": p[name]})
		}
		r.Set("deadline_policy", items)
	}
	return p
}

func intValue(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case float64:
		return int64(x)
	}
	return 0
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func policyMinutes(p map[string]int64, name string, def time.Duration) time.Duration {
	if v, ok := p[name]; ok && v > 0 {
		return time.Duration(v) * time.Minute
	}
	return def
}
