//go:build !noembed

package mongodb

import (
	"context"

	"fieldsync/devstack"
	fsync "fieldsync/sync"
)

// SideDoorPlan returns SQLite's plan of the side door's SELECT for q ("" when s has no side door).
func SideDoorPlan(ctx context.Context, s *SyncStore, tenant, coll string, q fsync.Query) (string, error) {
	if s.side == nil {
		return "", nil
	}
	query, args, err := s.side.idsQuery(ctx, coll, tenant, q)
	if query == "" || err != nil {
		return "", err
	}
	return devstack.QueryPlan(ctx, s.side.db, query, args...)
}

// BreakSideDoor closes s's connection to the SQLite file, as a failure would.
func BreakSideDoor(s *SyncStore) { s.side.db.Close() }
