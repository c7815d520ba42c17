package sync

import (
	"context"
)

// Lookup returns the live records of collection with ids in the acting
// caller's tenant, as this push sees them (including its own earlier
// changes): actions read reference data (a site's settings, a route's
// checkpoints) and linked records through it. One store Load for the ids
// not yet known to the push. It does not check the caller's scope: the action
// decides what it may use.
func (a *ActionContext) Lookup(collection string, ids ...string) ([]*Record, error) {
	if a.lookup == nil || len(ids) == 0 {
		return nil, nil
	}
	return a.lookup(collection, ids)
}

// Context is the push's context (for actions that ask other services).
func (a *ActionContext) Context() context.Context {
	if a.ctx == nil {
		return context.Background()
	}
	return a.ctx
}

// lookupIn reads records through the push's working set, loading what it
// lacks into it.
func (e *Engine) lookupIn(ctx context.Context, tenant string, work map[string]*slot) func(string, []string) ([]*Record, error) {
	return func(coll string, ids []string) ([]*Record, error) {
		var need []string
		for _, id := range ids {
			if k := recordKey(tenant, coll, id); work[k] == nil {
				need = append(need, k)
			}
		}
		if err := e.load(ctx, work, need); err != nil {
			return nil, err
		}
		out := make([]*Record, 0, len(ids))
		for _, id := range ids {
			if s := work[recordKey(tenant, coll, id)]; s != nil && s.rec != nil && !s.rec.Deleted {
				out = append(out, s.rec)
			}
		}
		return out, nil
	}
}
