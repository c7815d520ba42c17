//go:build !noembed

package devstack

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	_ "modernc.org/sqlite" // the embedded FerretDB's own SQLite driver
)

// FerretDB v1.24's SQLite backend evaluates a filter inside SQLite only when
// it is exactly {_id: <string>}, as `_ferretdb_sjson->'$._id' = ?`, while
// the unique index it keeps on every table is on `_ferretdb_sjson->"_id"`,
// an expression SQLite does not take for the same one: every look-up by _id
// scans the table, and any other filter decodes every document. The front
// mends the two costs every client pays, for every process connected to it:
//
//   - it creates an index on the expression FerretDB filters by on each
//     table, the first time it sees a command on its collection (ensureIDIndex);
//   - it answers the version-checked replace a sync engine commits with, an
//     update whose filter is _id plus equality conditions, by reading the
//     document by _id, checking the other conditions itself and sending the
//     update on with the _id alone (casUpdate). It holds the write lock from
//     the read to the write, so no other write comes between;
//   - it keeps the indexes a client asks for (IndexCommand) on the values a
//     reader of the SQLite file selects by (mongodb's side door), created
//     under the write lock, so they never race FerretDB's own writes.
//
// Neither changes an answer: whatever the front cannot judge (another
// operator, an array on either side, a type it does not compare) goes on as
// the client sent it.

// IndexPrefix begins the name of every index the front adds to FerretDB's tables.
const IndexPrefix = "fieldsync_"

// EmbeddedCommand is the command the front answers itself with
// {sqlite: <directory of FerretDB's SQLite files>, ok: 1}: a client on this
// machine (mongodb.SyncStore) reads ids there through indexes of its own.
// FerretDB itself answers it "no such command".
const EmbeddedCommand = "fieldsyncEmbedded"

// ferretFront is the SQLite side of the front: FerretDB's database files.
type ferretFront struct {
	dir string // holds <database>.sqlite

	mu      sync.Mutex
	dbs     map[string]*sql.DB
	indexed map[string]bool        // "<database>.<collection>" whose table has its indexes
	wanted  map[string][]exprIndex // the indexes clients asked for, by "<database>.<collection>"
	looked  map[string]bool        // collections a command has looked for the table of
	reqID   atomic.Int32
	// casSkipped and casRewritten count the version-checked update
	// statements sent on as they came and those rewritten (tests).
	casSkipped, casRewritten atomic.Int64
}

func newFerretFront(dir string) *ferretFront {
	return &ferretFront{dir: dir, dbs: map[string]*sql.DB{}, indexed: map[string]bool{}, wanted: map[string][]exprIndex{}, looked: map[string]bool{}}
}

func (f *ferretFront) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, db := range f.dbs {
		db.Close()
	}
	f.dbs = map[string]*sql.DB{}
}

// sqlite opens (once) the SQLite file of database name, which FerretDB
// created (mode=rw: never the front, which would leave FerretDB a file
// without its metadata); it waits for FerretDB's own locks as long as
// FerretDB does.
func (f *ferretFront) sqlite(name string) (*sql.DB, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if db := f.dbs[name]; db != nil {
		return db, nil
	}
	path := filepath.Join(f.dir, name+".sqlite")
	db, err := sql.Open("sqlite", "file:"+path+"?mode=rw&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	f.dbs[name] = db
	return db, nil
}

// closeDB closes the front's connection to database name's file, before
// FerretDB removes it (a connection left open would keep its -wal and -shm
// files behind).
func (f *ferretFront) closeDB(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if db := f.dbs[name]; db != nil {
		db.Close()
		delete(f.dbs, name)
	}
}

// command is what the front reads of an OP_MSG request.
type command struct {
	name, db, coll string
	body           bson.Raw // the kind-0 section
}

// parseCommand reads the command of an OP_MSG request (ok false for
// anything else).
func parseCommand(msg []byte) (command, bool) {
	if len(msg) < 21 || int32(binary.LittleEndian.Uint32(msg[12:16])) != opMsg || msg[20] != 0 {
		return command{}, false
	}
	n := int(int32(binary.LittleEndian.Uint32(msg[21:25])))
	if n < 5 || 21+n > len(msg) {
		return command{}, false
	}
	body := bson.Raw(msg[21 : 21+n])
	elems, err := body.Elements()
	if err != nil || len(elems) == 0 {
		return command{}, false
	}
	c := command{name: elems[0].Key(), body: body}
	c.coll, _ = elems[0].Value().StringValueOK()
	c.db, _ = body.Lookup("$db").StringValueOK()
	return c, c.db != ""
}

// needsIndex reports whether c names a collection whose table the front has
// not indexed yet, or drops some.
// A read looks once per collection (its table may be there from before a
// restart); after that only a write can create the table, so a read of a
// collection that has none does not wait for the write lock again.
func (f *ferretFront) needsIndex(c command, write bool) bool {
	if c.name == "drop" || c.name == "dropDatabase" {
		return true
	}
	if c.coll == "" {
		return false
	}
	key := c.db + "." + c.coll
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.indexed[key] && (write || !f.looked[key])
}

// ensureIndexes creates the _id expression index, and those a client
// asked for (IndexCommand), on the table of c's collection the first time
// the front meets it (after the command that may have created it); the
// caller holds the write lock. A drop forgets.
func (f *ferretFront) ensureIndexes(ctx context.Context, c command) {
	switch c.name {
	case "drop":
		f.forget(c.db + "." + c.coll)
		return
	case "dropDatabase":
		f.forget(c.db + ".")
		return
	}
	if c.coll == "" || strings.HasPrefix(c.db, "admin") {
		return
	}
	key := c.db + "." + c.coll
	f.mu.Lock()
	done, wanted := f.indexed[key], f.wanted[key]
	f.looked[key] = true
	f.mu.Unlock()
	if done {
		return
	}
	ok, err := f.createIndexes(ctx, c.db, c.coll, wanted)
	if err != nil {
		return // the next command tries again
	}
	if ok {
		f.mu.Lock()
		f.indexed[key] = true
		f.mu.Unlock()
	}
}

func (f *ferretFront) forget(prefix string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.indexed {
		if strings.HasPrefix(k, prefix) {
			delete(f.indexed, k)
		}
	}
	for k := range f.looked {
		if strings.HasPrefix(k, prefix) {
			delete(f.looked, k)
		}
	}
}

// exprIndex is an index a client asked for: the values at paths of the
// documents, as `_ferretdb_sjson->>'$.<path>'` each.
type exprIndex struct {
	name  string
	paths []string
}

// createIndexes creates the indexes on coll's table; false when the
// collection has no table yet.
func (f *ferretFront) createIndexes(ctx context.Context, dbName, coll string, wanted []exprIndex) (bool, error) {
	db, err := f.sqlite(dbName)
	if err != nil {
		return false, err
	}
	table, err := TableOf(ctx, db, coll)
	if err != nil || table == "" {
		return false, err
	}
	stmts := []string{fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, table+"_"+IndexPrefix+"id", table)}
	for _, ix := range wanted {
		exprs := make([]string, len(ix.paths))
		for i, p := range ix.paths {
			exprs[i] = "_ferretdb_sjson->>'$." + p + "'"
		}
		stmts = append(stmts, fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (%s)`, table+"_"+IndexPrefix+ix.name, table, strings.Join(exprs, ", ")))
	}
	for _, st := range stmts {
		if _, err := db.ExecContext(ctx, st); err != nil {
			return false, err
		}
	}
	return true, nil
}

// IndexCommand asks the front for an index on a collection's table:
// {fieldsyncIndex: <collection>, name: <name>, paths: [<dotted path>, …]},
// on the values `_ferretdb_sjson->>'$.<path>'` a reader of FerretDB's
// SQLite file selects by (mongodb's side door). The front creates it now
// or when the collection's table appears, and again after a drop, and
// answers {ok: 1}. FerretDB's own queries never use it.
const IndexCommand = "fieldsyncIndex"

var indexPath = regexp.MustCompile(`^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$`)

// want records the index c asks for (IndexCommand) and creates it when its
// table exists; the caller holds the write lock.
func (f *ferretFront) want(ctx context.Context, c command) error {
	name, _ := c.body.Lookup("name").StringValueOK()
	arr, ok := c.body.Lookup("paths").ArrayOK()
	vals, err := arr.Values()
	if !ok || err != nil || len(vals) == 0 || !indexPath.MatchString(name) || c.coll == "" {
		return errors.New("fieldsyncIndex wants a collection, a name and paths")
	}
	ix := exprIndex{name: name}
	for _, v := range vals {
		p, ok := v.StringValueOK()
		if !ok || !indexPath.MatchString(p) {
			return fmt.Errorf("fieldsyncIndex: bad path %v", v)
		}
		ix.paths = append(ix.paths, p)
	}
	key := c.db + "." + c.coll
	f.mu.Lock()
	f.wanted[key] = append(slices.DeleteFunc(f.wanted[key], func(w exprIndex) bool { return w.name == name }), ix)
	delete(f.indexed, key)
	f.mu.Unlock()
	f.ensureIndexes(ctx, c)
	return nil
}

// commandReply is the front's own answer to request req: {ok: 1}, or
// {ok: 0, errmsg} for err.
func commandReply(req []byte, err error) []byte {
	d := bson.D{{Key: "ok", Value: 1.0}}
	if err != nil {
		d = bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: err.Error()}, {Key: "code", Value: int32(2)}}
	}
	doc, _ := bson.Marshal(d)
	return opMsgReply(int32(binary.LittleEndian.Uint32(req[4:8])), doc)
}

// TableOf returns the SQLite table of FerretDB collection coll in db ("" when
// it has none).
func TableOf(ctx context.Context, db *sql.DB, coll string) (string, error) {
	var table string
	err := db.QueryRowContext(ctx, `SELECT table_name FROM _ferretdb_collections WHERE name = ?`, coll).Scan(&table)
	if errors.Is(err, sql.ErrNoRows) || (err != nil && strings.Contains(err.Error(), "no such table")) {
		return "", nil
	}
	return table, err
}

// embeddedReply is the front's own answer to EmbeddedCommand.
func (f *ferretFront) embeddedReply(req []byte) []byte {
	doc, _ := bson.Marshal(bson.D{{Key: "sqlite", Value: f.dir}, {Key: "ok", Value: 1.0}})
	return opMsgReply(int32(binary.LittleEndian.Uint32(req[4:8])), doc)
}

// opMsgReply is an OP_MSG answering request id to with doc.
func opMsgReply(to int32, doc []byte) []byte {
	return opMsgOf(0, to, doc, nil)
}

// opMsgOf builds an OP_MSG with body as its kind-0 section followed by the
// raw kind-1 sections seqs.
func opMsgOf(id, to int32, body []byte, seqs []byte) []byte {
	n := 16 + 4 + 1 + len(body) + len(seqs)
	msg := make([]byte, 0, n)
	msg = binary.LittleEndian.AppendUint32(msg, uint32(n))
	msg = binary.LittleEndian.AppendUint32(msg, uint32(id))
	msg = binary.LittleEndian.AppendUint32(msg, uint32(to))
	msg = binary.LittleEndian.AppendUint32(msg, opMsg)
	msg = binary.LittleEndian.AppendUint32(msg, 0)
	msg = append(msg, 0)
	msg = append(msg, body...)
	return append(msg, seqs...)
}

// casUpdate rewrites an update request whose statements filter by _id plus
// equality conditions: each statement whose stored document meets the
// other conditions is sent with {_id} alone, each other one with a filter
// that matches nothing; the caller holds the write lock from this read to
// the update's reply. It returns req unchanged when it cannot judge.
func (f *ferretFront) casUpdate(server net.Conn, c command, req []byte) []byte {
	flags := binary.LittleEndian.Uint32(req[16:20])
	if flags&1 != 0 { // a checksum would no longer match
		return req
	}
	start := 21 + len(c.body)
	if _, err := c.body.LookupErr("updates"); err == nil || start >= len(req) {
		return req // statements inside the command document: not what the driver sends
	}
	// One kind-1 section "updates".
	seq := req[start:]
	if seq[0] != 1 || len(seq) < 5 {
		return req
	}
	size := int(int32(binary.LittleEndian.Uint32(seq[1:5])))
	if size+1 != len(seq) {
		return req
	}
	name, rest, ok := bytes.Cut(seq[5:], []byte{0})
	if !ok || string(name) != "updates" {
		return req
	}
	var stmts []bson.Raw
	for len(rest) > 0 {
		if len(rest) < 4 {
			return req
		}
		n := int(int32(binary.LittleEndian.Uint32(rest[:4])))
		if n < 5 || n > len(rest) {
			return req
		}
		stmts = append(stmts, bson.Raw(rest[:n]))
		rest = rest[n:]
	}
	// The statements run one after another: the front judges a statement
	// by what is stored before the command, so only while no statement
	// before it may have touched its document — one on another _id. From
	// a statement that may touch any document on, and for a second one on
	// the same _id, the statements go on as they came.
	changed, opaque := false, false
	touched := map[string]bool{}
	out := make([]bson.Raw, len(stmts))
	for i, st := range stmts {
		out[i] = st
		q, ok := st.Lookup("q").DocumentOK()
		stID, one := q.Lookup("_id").StringValueOK()
		if !ok || !one || !plainStatement(st) {
			opaque = true
			continue
		}
		first := !touched[stID]
		touched[stID] = true
		if opaque || !first {
			continue
		}
		id, conds, ok := casFilter(q)
		if !ok {
			continue
		}
		doc, found, err := f.findByID(server, c, id)
		if err != nil {
			f.casSkipped.Add(1)
			continue
		}
		filter := bson.D{{Key: "_id", Value: id}}
		match, judged := false, true
		if found {
			match, judged = meets(doc, conds)
		}
		if !judged {
			f.casSkipped.Add(1)
			continue
		}
		if !match {
			// Matches nothing, through the index: the stored version moved on.
			filter[0].Value = "\x00fieldsync: version moved on"
		}
		rewritten, err := replaceElement(st, "q", filter)
		if err != nil {
			continue
		}
		out[i], changed = rewritten, true
		f.casRewritten.Add(1)
	}
	if !changed {
		return req
	}
	var seqs []byte
	for _, st := range out {
		seqs = append(seqs, st...)
	}
	section := []byte{1, 0, 0, 0, 0}
	section = append(section, "updates\x00"...)
	section = append(section, seqs...)
	binary.LittleEndian.PutUint32(section[1:5], uint32(len(section)-1))
	id := int32(binary.LittleEndian.Uint32(req[4:8]))
	return opMsgOf(id, 0, c.body, section)
}

// plainStatement reports whether an update statement is one document's,
// with nothing but its filter and update (a collation would change what
// equal means).
func plainStatement(st bson.Raw) bool {
	elems, err := st.Elements()
	if err != nil {
		return false
	}
	for _, e := range elems {
		switch e.Key() {
		case "q", "u":
		case "multi", "upsert":
			if b, ok := e.Value().BooleanOK(); !ok || b {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// casFilter splits a filter {_id: <string>, k: v, …} with at least one more
// condition into the id and the others, each a plain value the front
// compares (ok false otherwise).
func casFilter(q bson.Raw) (string, []bson.RawElement, bool) {
	elems, err := q.Elements()
	if err != nil || len(elems) < 2 {
		return "", nil, false
	}
	var id string
	var conds []bson.RawElement
	for _, e := range elems {
		k, v := e.Key(), e.Value()
		if k == "_id" {
			s, ok := v.StringValueOK()
			if !ok || id != "" {
				return "", nil, false
			}
			id = s
			continue
		}
		if strings.HasPrefix(k, "$") || !comparable(v) {
			return "", nil, false
		}
		conds = append(conds, e)
	}
	return id, conds, id != ""
}

func comparable(v bson.RawValue) bool {
	switch v.Type {
	case bson.TypeString, bson.TypeInt32, bson.TypeInt64, bson.TypeDouble, bson.TypeBoolean:
		return true
	}
	return false
}

// meets reports whether doc holds each condition's value at its (dotted)
// path as MongoDB's equality would match it; judged is false when the front
// cannot tell (a path through an array, numbers it cannot compare exactly).
func meets(doc bson.Raw, conds []bson.RawElement) (match, judged bool) {
	for _, c := range conds {
		v, found, ok := lookupPath(doc, strings.Split(c.Key(), "."))
		if !ok {
			return false, false
		}
		if !found {
			return false, true // a plain value never equals a missing field
		}
		eq, ok := equalValues(v, c.Value())
		if !ok {
			return false, false
		}
		if !eq {
			return false, true
		}
	}
	return true, true
}

// lookupPath walks path through documents only (ok false at an array on the way).
func lookupPath(doc bson.Raw, path []string) (v bson.RawValue, found, ok bool) {
	cur := doc
	for i, k := range path {
		val, err := cur.LookupErr(k)
		if err != nil {
			return bson.RawValue{}, false, true
		}
		if i == len(path)-1 {
			return val, true, true
		}
		sub, isDoc := val.DocumentOK()
		if !isDoc {
			if val.Type == bson.TypeArray {
				return bson.RawValue{}, false, false
			}
			return bson.RawValue{}, false, true
		}
		cur = sub
	}
	return bson.RawValue{}, false, true
}

// equalValues is MongoDB's equality of a stored value and a plain query
// value: numbers by value whatever their type; an array matches when one
// of its elements does. ok is false when it cannot tell.
func equalValues(stored, want bson.RawValue) (eq, ok bool) {
	if arr, isArr := stored.ArrayOK(); isArr {
		vals, err := arr.Values()
		if err != nil {
			return false, false
		}
		for _, v := range vals {
			eq, ok := equalValues(v, want)
			if !ok || eq {
				return eq, ok
			}
		}
		return false, true
	}
	a, aInt, aNum := number(stored)
	b, bInt, bNum := number(want)
	switch {
	case aNum && bNum && aInt && bInt:
		return stored.AsInt64() == want.AsInt64(), true
	case aNum && bNum:
		if (aInt && math.Abs(a) > 1<<53) || (bInt && math.Abs(b) > 1<<53) {
			return false, false
		}
		return a == b, true
	case aNum || bNum:
		return false, true
	case stored.Type != want.Type:
		return false, true
	}
	return bytes.Equal(stored.Value, want.Value), true
}

// number returns v as a float64 and whether it is an integer, for the numeric types.
func number(v bson.RawValue) (f float64, isInt, ok bool) {
	switch v.Type {
	case bson.TypeInt32:
		return float64(v.Int32()), true, true
	case bson.TypeInt64:
		return float64(v.Int64()), true, true
	case bson.TypeDouble:
		return v.Double(), false, true
	}
	return 0, false, false
}

// findByID reads the document id of c's collection through FerretDB on the
// connection server (the client's request waits for it).
func (f *ferretFront) findByID(server net.Conn, c command, id string) (bson.Raw, bool, error) {
	body, err := bson.Marshal(bson.D{{Key: "find", Value: c.coll}, {Key: "filter", Value: bson.D{{Key: "_id", Value: id}}},
		{Key: "limit", Value: int32(1)}, {Key: "singleBatch", Value: true}, {Key: "$db", Value: c.db}})
	if err != nil {
		return nil, false, err
	}
	reqID := 1<<30 + f.reqID.Add(1)&(1<<29-1) // apart from the driver's own ids
	_ = server.SetDeadline(time.Now().Add(30 * time.Second))
	defer server.SetDeadline(time.Time{})
	if _, err := server.Write(opMsgOf(reqID, 0, body, nil)); err != nil {
		return nil, false, err
	}
	resp, err := readMessage(server)
	if err != nil {
		return nil, false, err
	}
	rc, ok := parseReply(resp)
	if !ok {
		return nil, false, errors.New("devstack: unreadable find reply")
	}
	if okv, _ := rc.Lookup("ok").AsFloat64OK(); okv != 1 {
		return nil, false, errors.New("devstack: find failed")
	}
	batch, ok := rc.Lookup("cursor", "firstBatch").ArrayOK()
	if !ok {
		return nil, false, errors.New("devstack: find reply without a batch")
	}
	vals, err := batch.Values()
	if err != nil {
		return nil, false, err
	}
	if len(vals) == 0 {
		return nil, false, nil
	}
	doc, ok := vals[0].DocumentOK()
	return doc, ok, nil
}

// parseReply returns the kind-0 document of an OP_MSG reply.
func parseReply(msg []byte) (bson.Raw, bool) {
	if len(msg) < 25 || int32(binary.LittleEndian.Uint32(msg[12:16])) != opMsg || msg[20] != 0 {
		return nil, false
	}
	n := int(int32(binary.LittleEndian.Uint32(msg[21:25])))
	if n < 5 || 21+n > len(msg) {
		return nil, false
	}
	return bson.Raw(msg[21 : 21+n]), true
}

// replaceElement returns doc with the value of key replaced by v.
func replaceElement(doc bson.Raw, key string, v any) (bson.Raw, error) {
	elems, err := doc.Elements()
	if err != nil {
		return nil, err
	}
	d := make(bson.D, 0, len(elems))
	for _, e := range elems {
		if e.Key() == key {
			d = append(d, bson.E{Key: key, Value: v})
			continue
		}
		d = append(d, bson.E{Key: e.Key(), Value: e.Value()})
	}
	return bson.Marshal(d)
}

// QueryPlan returns SQLite's plan of query on db, its steps joined by "; "
// (tests show with it which index a SELECT uses).
func QueryPlan(ctx context.Context, db *sql.DB, query string, args ...any) (string, error) {
	rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
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
