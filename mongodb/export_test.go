//go:build !noembed

package mongodb

import (
	"context"
	"strings"

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
	rows, err := s.side.db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", err
		}
		out = append(out, detail)
	}
	return strings.Join(out, "; "), rows.Err()
}
