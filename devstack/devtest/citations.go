package devtest

import (
	"context"
	"slices"
	"sync"

	"fieldsync"
)

// Citations is a test-only fieldsync.CitationFinder over citations a test
// declares, standing in for the sync engine's records where a test needs no
// real records (or before the engine is wired).
type Citations struct {
	mu    sync.Mutex
	cites []fieldsync.Citation
}

var _ fieldsync.CitationFinder = (*Citations)(nil)

// Cite declares that record r cites mediaID.
func (f *Citations) Cite(mediaID string, r fieldsync.RecordRef) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cites = append(f.cites, fieldsync.Citation{MediaID: mediaID, Record: r})
}

func (f *Citations) filter(keep func(c fieldsync.Citation) bool) []fieldsync.Citation {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fieldsync.Citation
	for _, c := range f.cites {
		if keep(c) {
			out = append(out, c)
		}
	}
	return out
}

// Citing implements fieldsync.CitationFinder.
func (f *Citations) Citing(_ context.Context, tenant string, ids []string) ([]fieldsync.Citation, error) {
	return f.filter(func(c fieldsync.Citation) bool {
		return c.Record.TenantID == tenant && slices.Contains(ids, c.MediaID)
	}), nil
}

// CitedAtSite implements fieldsync.CitationFinder.
func (f *Citations) CitedAtSite(_ context.Context, tenant, site string) ([]fieldsync.Citation, error) {
	return f.filter(func(c fieldsync.Citation) bool {
		return c.Record.TenantID == tenant && c.Record.SiteID == site
	}), nil
}
