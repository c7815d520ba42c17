package mongodb

import (
	"context"
	"log/slog"
	"time"

	"fieldsync"
)

// EmbeddedWorkOrderLimit is the most work orders a tenant keeps on the
// embedded FerretDB while a desk action (an assignment, a complaint action)
// stays under 200 ms on a 2-core machine: past it, what still grows with the
// tenant (docs/BENCHMARKS.md, "Scale on the embedded store") calls for a
// MongoDB replica set (docs/DEPLOY.md).
const EmbeddedWorkOrderLimit = 100_000

// embeddedSizeEvery is how often WatchEmbeddedSize looks.
const embeddedSizeEvery = 24 * time.Hour

// WatchEmbeddedSize warns, at start and then once a day, about each tenant
// past EmbeddedWorkOrderLimit on the embedded store, until ctx ends. On any
// other server it does nothing.
func (s *Store) WatchEmbeddedSize(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(embeddedSizeEvery)
	defer t.Stop()
	for {
		if err := s.WarnEmbeddedSize(ctx, log, EmbeddedWorkOrderLimit); err != nil && ctx.Err() == nil {
			log.Warn("embedded store: could not count the tenants' work orders", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// WarnEmbeddedSize logs a warning for each tenant with more than limit work
// orders on the embedded store (nothing on any other server).
func (s *Store) WarnEmbeddedSize(ctx context.Context, log *slog.Logger, limit int) error {
	side, err := s.sideDoor(ctx)
	if side == nil || err != nil {
		return err
	}
	over, err := side.tenantsOver(ctx, fieldsync.CollWorkOrders, limit)
	if err != nil {
		return mapError(err)
	}
	for tenant, n := range over {
		log.Warn("tenant has outgrown the embedded store: desk actions slow down past this size; move it to a MongoDB replica set, see docs/DEPLOY.md",
			"tenant", tenant, "work_orders", n, "limit", limit)
	}
	return nil
}
