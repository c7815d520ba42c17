//go:build !noembed

package mongodb

import (
	"context"

	"fieldsync/devstack"
	fsync "fieldsync/sync"
)

// SideWalkCounts returns how many documents side-door walks have read, and
// how many of them through FerretDB because the walk did not recognise them.
func SideWalkCounts() (walked, fellBack int64) { return sideWalked.Load(), sideFellBack.Load() }

// SideWalkPlan returns SQLite's plan of a side-door walk's next batch of q
// ("" when s has no side door or coll no table).
func SideWalkPlan(ctx context.Context, s *SyncStore, tenant, coll string, q fsync.Query, afterID string) (string, error) {
	if s.side == nil {
		return "", nil
	}
	table, err := s.side.table(ctx, recordsOf(coll))
	if table == "" || err != nil {
		return "", err
	}
	c := &walkCursor{table: table, tenant: tenant, q: q, after: q.After, afterID: afterID}
	query, args := c.walkQuery(100)
	return devstack.QueryPlan(ctx, s.side.db, query, args...)
}

// SJSONToBSON is the side door's reading of FerretDB's stored text b.
func SJSONToBSON(b []byte) ([]byte, error) { return new(sjDecoder).sjsonToBSON(b) }

// StoredTexts returns up to limit stored texts of coll's documents, as
// FerretDB keeps them in its SQLite file (nil without a side door).
func StoredTexts(ctx context.Context, s *SyncStore, coll string, limit int) ([][]byte, error) {
	if s.side == nil {
		return nil, nil
	}
	table, err := s.side.table(ctx, recordsOf(coll))
	if table == "" || err != nil {
		return nil, err
	}
	rows, err := s.side.db.QueryContext(ctx, `SELECT _ferretdb_sjson FROM "`+table+`" LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}
