//go:build !noembed

package mongodb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"fieldsync"
	fsync "fieldsync/sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	_ "modernc.org/sqlite" // the embedded FerretDB's own SQLite driver
)

// sideDoor reads the ids of a scoped query straight from the embedded
// FerretDB's SQLite file, read-only: FerretDB itself would decode every
// document of the collection to filter them (it evaluates inside SQLite
// only a filter that is exactly {_id: <string>}), while SQLite evaluates
// the filter on its JSON without leaving C. The records themselves are then
// read through FerretDB one by _id (the wire front indexes that look-up,
// devstack/ferretfront.go) and the whole query is checked again on them.
type sideDoor struct {
	db *sql.DB
}

// openSideDoor opens the side door to mdb's SQLite file when the server is
// the embedded FerretDB behind fieldsync's wire front on this machine (the
// front names the directory of its files); nil when it is not.
func openSideDoor(ctx context.Context, mdb *mongo.Database) (*sideDoor, error) {
	var reply struct {
		SQLite string `bson:"sqlite"`
	}
	if err := mdb.Client().Database("admin").RunCommand(ctx, bson.D{{Key: embeddedCommand, Value: 1}}).Decode(&reply); err != nil || reply.SQLite == "" {
		return nil, nil // another server: FerretDB itself answers "no such command"
	}
	path := filepath.Join(reply.SQLite, mdb.Name()+".sqlite")
	if _, err := os.Stat(path); err != nil {
		return nil, nil // the front runs on another machine
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	return &sideDoor{db: db}, nil
}

func (d *sideDoor) close() error { return d.db.Close() }

// embeddedCommand is the command fieldsync's wire front for the embedded
// FerretDB answers with the directory of its SQLite files
// (devstack.EmbeddedCommand); indexCommand asks it for an index
// (devstack.IndexCommand).
const (
	embeddedCommand = "fieldsyncEmbedded"
	indexCommand    = "fieldsyncIndex"
)

// sideDoorServes reports whether the side door can select q: a bootstrap's
// scoped walk (sites, live, positions, Mine), or the inspections that left
// a guard's window (sites, live, a creation range, by creation).
func sideDoorServes(q fsync.Query) bool {
	plain := q.Keys == nil && len(q.Equal) == 0 && q.Device == "" && q.CitesAny == nil && !q.CitesMedia
	scoped := q.Mine != nil && q.CreatedFrom.IsZero() && q.CreatedBefore.IsZero() && q.Order != fsync.ByCreation
	aged := q.Mine == nil && !q.CreatedFrom.IsZero() && !q.CreatedBefore.IsZero() && q.Order == fsync.ByCreation
	return plain && (scoped || aged || selects(q))
}

// selects reports whether q is a selection the side door serves: records
// holding some of a few values (q.In, strings or nil: what SQLite compares
// as FerretDB stores them), created since a time or not, as the server jobs
// select them (indexed by jobSelections).
func selects(q fsync.Query) bool {
	if len(q.In) == 0 || q.Mine != nil || !q.CreatedBefore.IsZero() || q.CreatedAfterKey != "" || q.Order == fsync.ByCreation {
		return false
	}
	for _, vs := range q.In {
		for _, v := range vs {
			if _, ok := v.(string); !ok && v != nil {
				return false
			}
		}
	}
	return true
}

// ids returns the keys of tenant's records of coll that may match q (a
// superset: the caller checks q on the records): one SELECT per condition
// of q.Mine, each served by an index the front keeps (sideIndexes), so
// SQLite parses only the documents it names.
func (d *sideDoor) ids(ctx context.Context, coll, tenant string, q fsync.Query) ([]string, error) {
	query, args, err := d.idsQuery(ctx, coll, tenant, q)
	if query == "" || err != nil {
		return nil, err
	}
	return d.selectIDs(ctx, query, args...)
}

// idsQuery is the SQL of ids ("" when nothing can match).
func (d *sideDoor) idsQuery(ctx context.Context, coll, tenant string, q fsync.Query) (string, []any, error) {
	table, err := d.table(ctx, recordsOf(coll))
	if table == "" || err != nil {
		return "", nil, err
	}
	where := field(keyTenant) + " = ?"
	args := []any{tenant}
	if q.Sites != nil {
		if len(q.Sites) == 0 {
			return "", nil, nil
		}
		where += " AND " + field(keySite) + " IN (?" + strings.Repeat(",?", len(q.Sites)-1) + ")"
		for _, s := range q.Sites {
			args = append(args, s)
		}
	}
	if selects(q) {
		var parts []string
		var all []any
		conds, condArgs := inBranches(q)
		for i, c := range conds {
			parts = append(parts, fmt.Sprintf("SELECT %s FROM %q WHERE %s%s", field("_id"), table, where, c))
			all = append(append(all, args...), condArgs[i]...)
		}
		return strings.Join(parts, " UNION "), all, nil
	}
	var branches []string
	var all []any
	branch := func(cond string, v any) {
		branches = append(branches, fmt.Sprintf("SELECT %s FROM %q WHERE %s AND %s", field("_id"), table, where, cond))
		all = append(append(all, args...), v)
	}
	m := q.Mine
	if m == nil {
		// A creation range, through the "created" index.
		branch(field(keyCreated)+" >= ? AND "+field(keyCreated)+" < ?", q.CreatedFrom.UnixMilli())
		all = append(all, q.CreatedBefore.UnixMilli())
		return branches[0], all, nil
	}
	if m.Creator {
		branch(field(keyCreator)+" = ?", m.User)
	}
	if m.Assignee {
		// The assignees' JSON text holds the person as a JSON string.
		quoted, err := json.Marshal(m.User)
		if err != nil {
			return "", nil, err
		}
		branch("instr("+field(keyAssigned)+", ?) > 0", string(quoted))
	}
	if !m.Since.IsZero() {
		branch(field(keyCreated)+" >= ?", m.Since.UnixMilli()) // FerretDB keeps a date as its Unix milliseconds
	}
	if len(branches) == 0 {
		return "", nil, nil
	}
	return strings.Join(branches, " UNION "), all, nil
}

// inBranches are the SQL conditions whose union is a selection's q.In
// (with q.CreatedFrom), fields in name order, none when nothing matches. A
// field that may be missing takes a branch for its values and one for
// none: SQLite searches an index for either, but for their OR it would
// read the tenant's whole table.
func inBranches(q fsync.Query) (conds []string, args [][]any) {
	conds, args = []string{""}, [][]any{nil}
	for _, k := range slices.Sorted(maps.Keys(q.In)) {
		var alts []string
		var altArgs [][]any
		var vals []any
		for _, v := range q.In[k] {
			if v != nil {
				vals = append(vals, v)
			}
		}
		if len(vals) > 0 {
			alts, altArgs = append(alts, " AND "+field(k)+" IN (?"+strings.Repeat(",?", len(vals)-1)+")"), append(altArgs, vals)
		}
		if slices.Contains(q.In[k], nil) {
			alts, altArgs = append(alts, " AND "+field(k)+" IS NULL"), append(altArgs, nil)
		}
		var nc []string
		var na [][]any
		for i := range conds {
			for j := range alts {
				nc, na = append(nc, conds[i]+alts[j]), append(na, append(slices.Clone(args[i]), altArgs[j]...))
			}
		}
		conds, args = nc, na
	}
	if !q.CreatedFrom.IsZero() {
		for i := range conds {
			// FerretDB keeps a date as its Unix milliseconds.
			conds[i], args[i] = conds[i]+" AND "+field(keyCreated)+" >= ?", append(args[i], q.CreatedFrom.UnixMilli())
		}
	}
	return conds, args
}

// sideIndex is an index the side door asks the wire front for.
type sideIndex struct {
	coll, name string
	paths      []string
}

// sideIndexes are the indexes the side door's SELECTs use: a scoped
// bootstrap's conditions (the collections sync.readScope scopes) and the
// audit sweep's.
func sideIndexes() []sideIndex {
	var out []sideIndex
	for _, c := range []string{fieldsync.CollPatrolRounds, fieldsync.CollInspections, fieldsync.CollWorkOrders, fieldsync.CollComplaints} {
		out = append(out, sideIndex{recordsOf(c), "creator", []string{keyTenant, keySite, keyCreator, "_id"}},
			sideIndex{recordsOf(c), "assignees", []string{keyTenant, keySite, keyAssigned, "_id"}})
	}
	// A guard's window.
	out = append(out, sideIndex{recordsOf(fieldsync.CollInspections), "created", []string{keyTenant, keySite, keyCreated, "_id"}},
		sideIndex{AuditCollection, "at", []string{"t", "at", "_id"}})
	for _, j := range jobSelections {
		out = append(out, sideIndex{recordsOf(j.coll), j.name, append([]string{keyTenant}, j.paths...)})
	}
	return out
}

// askIndexes asks the wire front for sideIndexes on mdb.
func askIndexes(ctx context.Context, mdb *mongo.Database) error {
	return askFor(ctx, mdb, sideIndexes())
}

// field is the SQL of the value at path of a FerretDB document.
func field(path string) string { return "_ferretdb_sjson->>'$." + path + "'" }

// table returns the SQLite table of FerretDB collection coll ("" when it has none).
func (d *sideDoor) table(ctx context.Context, coll string) (string, error) {
	var table string
	err := d.db.QueryRowContext(ctx, `SELECT table_name FROM _ferretdb_collections WHERE name = ?`, coll).Scan(&table)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return table, err
}

// expiredAudit returns the ids of at most limit of tenant's audit entries
// made before cutoff.
func (d *sideDoor) expiredAudit(ctx context.Context, tenant string, cutoff time.Time, limit int) ([]string, error) {
	table, err := d.table(ctx, AuditCollection)
	if table == "" || err != nil {
		return nil, err
	}
	return d.selectIDs(ctx, fmt.Sprintf("SELECT %s FROM %q WHERE %s = ? AND %s < ? LIMIT %d", field("_id"), table, field("t"), field("at"), limit),
		tenant, cutoff.UnixMilli())
}

// selectIDs returns the ids query selects.
func (d *sideDoor) selectIDs(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// tenantsOver returns the tenants with more than limit records of coll, and
// how many (the tenant leads an index of every scoped collection, so SQLite
// counts from the index alone).
func (d *sideDoor) tenantsOver(ctx context.Context, coll string, limit int) (map[string]int, error) {
	table, err := d.table(ctx, recordsOf(coll))
	if table == "" || err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, fmt.Sprintf("SELECT %s, count(*) FROM %q GROUP BY 1 HAVING count(*) > ?", field(keyTenant), table), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var tenant sql.NullString
		var n int
		if err := rows.Scan(&tenant, &n); err != nil {
			return nil, err
		}
		out[tenant.String] = n
	}
	return out, rows.Err()
}
