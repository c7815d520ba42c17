package mongodb

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
)

// eventMonitor counts the commands the driver sends to the database: the
// round trips the sync engine's tests and benchmarks hold constant.
type eventMonitor struct {
	n         atomic.Int64
	byName    sync.Map // command name → *atomic.Int64
	recording atomic.Bool
	shapes    sync.Map // QueryShape.String() → QueryShape
}

// CommandCounter counts database round trips.
type CommandCounter = eventMonitor

// NewCommandCounter returns a counter to pass in Options.Monitor.
func NewCommandCounter() *CommandCounter { return &eventMonitor{} }

// Count returns the number of commands started so far.
func (m *eventMonitor) Count() int64 { return m.n.Load() }

// CountOf returns the number of commands named name ("find", "getMore", …) started so far.
func (m *eventMonitor) CountOf(name string) int64 {
	if v, ok := m.byName.Load(name); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

func (m *eventMonitor) commandMonitor() *event.CommandMonitor {
	return &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			switch e.CommandName {
			case "hello", "isMaster", "ismaster", "ping", "endSessions":
				return
			}
			m.n.Add(1)
			v, _ := m.byName.LoadOrStore(e.CommandName, new(atomic.Int64))
			v.(*atomic.Int64).Add(1)
			if m.recording.Load() {
				m.record(e.CommandName, e.Command)
			}
		},
	}
}

// QueryShape is one kind of query the store sends: the collection, the
// fields its filter names (each branch of an $or its own shape) and its
// sort. The index-coverage test collects them (RecordShapes) and checks each
// against the store's indexes (Store.Index).
type QueryShape struct {
	Collection string
	Command    string
	Fields     []string
	Sort       []string
}

func (q QueryShape) String() string {
	return fmt.Sprintf("%s %s %v sort %v", q.Collection, q.Command, q.Fields, q.Sort)
}

// Index names the index of the store on q's collection that serves q by the
// prefix rule — its first key is a field q filters on, or, for a query
// without a filter, its sort key — or "_id" for a query by _id; "" when none.
// Of several, the one whose longest prefix q constrains.
func (s *Store) Index(q QueryShape) string {
	name, _ := s.index(q)
	return name
}

// Bounds lists the keys of Index's leading prefix that q constrains: how
// far the index narrows the query before the rest of its filter is
// evaluated document by document.
func (s *Store) Bounds(q QueryShape) []string {
	_, keys := s.index(q)
	return keys
}

func (s *Store) index(q QueryShape) (string, []string) {
	if slices.Contains(q.Fields, "_id") {
		return "_id", []string{"_id"}
	}
	best, bestN := "", 0
	var bounds []string
	for _, ix := range s.indexes {
		if ix.Collection != q.Collection {
			continue
		}
		n := 0
		for _, k := range ix.Keys {
			if !slices.Contains(q.Fields, k.Key) && !(len(q.Fields) == 0 && slices.Contains(q.Sort, k.Key)) {
				break
			}
			n++
		}
		if n > bestN {
			best, bestN, bounds = ix.Name, n, nil
			for _, k := range ix.Keys[:n] {
				bounds = append(bounds, k.Key)
			}
		}
	}
	return best, bounds
}

// IndexHolds reports whether the declared index name of coll holds field.
func IndexHolds(coll, name, field string) bool {
	for _, ix := range indexes {
		if ix.Collection == coll && ix.Name == name {
			for _, k := range ix.Keys {
				if k.Key == field {
					return true
				}
			}
		}
	}
	return false
}

// RecordShapes makes the counter keep the shape of every query it sees from now on.
func (m *eventMonitor) RecordShapes() { m.recording.Store(true) }

// ForgetShapes drops the shapes seen so far (a test looks at one request's).
func (m *eventMonitor) ForgetShapes() { m.shapes.Clear() }

// Shapes returns the distinct query shapes seen since RecordShapes.
func (m *eventMonitor) Shapes() []QueryShape {
	var out []QueryShape
	m.shapes.Range(func(_, v any) bool { out = append(out, v.(QueryShape)); return true })
	slices.SortFunc(out, func(a, b QueryShape) int { return strings.Compare(a.String(), b.String()) })
	return out
}

func (m *eventMonitor) record(name string, cmd bson.Raw) {
	str := func(k string) string { s, _ := cmd.Lookup(k).StringValueOK(); return s }
	var coll string
	var filters []bson.Raw
	var sort bson.Raw
	switch name {
	case "find":
		coll = str("find")
		f, _ := cmd.Lookup("filter").DocumentOK()
		filters = append(filters, f)
		sort, _ = cmd.Lookup("sort").DocumentOK()
	case "count", "distinct":
		coll = str(name)
		f, _ := cmd.Lookup("query").DocumentOK()
		filters = append(filters, f)
	case "findAndModify":
		coll = str("findAndModify")
		f, _ := cmd.Lookup("query").DocumentOK()
		filters = append(filters, f)
		sort, _ = cmd.Lookup("sort").DocumentOK()
	case "aggregate":
		coll = str("aggregate")
		p, _ := cmd.Lookup("pipeline").ArrayOK()
		if vals, err := p.Values(); err == nil && len(vals) > 0 {
			st, _ := vals[0].DocumentOK()
			f, _ := st.Lookup("$match").DocumentOK()
			filters = append(filters, f)
		}
	case "update", "delete":
		coll = str(name)
		arr, _ := cmd.Lookup(name + "s").ArrayOK()
		vals, _ := arr.Values()
		for _, v := range vals {
			d, _ := v.DocumentOK()
			f, _ := d.Lookup("q").DocumentOK()
			filters = append(filters, f)
		}
	default:
		return
	}
	var sortKeys []string
	if els, err := sort.Elements(); err == nil {
		for _, e := range els {
			sortKeys = append(sortKeys, e.Key())
		}
	}
	for _, f := range filters {
		for _, fields := range filterFields(f) {
			slices.Sort(fields)
			q := QueryShape{Collection: coll, Command: name, Fields: slices.Compact(fields), Sort: sortKeys}
			m.shapes.LoadOrStore(q.String(), q)
		}
	}
}

// filterFields lists the fields a filter names, one list per branch of its $or.
func filterFields(f bson.Raw) [][]string {
	els, err := f.Elements()
	if err != nil {
		return [][]string{nil}
	}
	var base []string
	var ors [][]string
	for _, e := range els {
		switch e.Key() {
		case "$or":
			arr, _ := e.Value().ArrayOK()
			vals, _ := arr.Values()
			for _, v := range vals {
				d, _ := v.DocumentOK()
				ors = append(ors, filterFields(d)...)
			}
		case "$and":
			arr, _ := e.Value().ArrayOK()
			vals, _ := arr.Values()
			for _, v := range vals {
				d, _ := v.DocumentOK()
				for _, fs := range filterFields(d) {
					base = append(base, fs...)
				}
			}
		default:
			base = append(base, e.Key())
		}
	}
	if len(ors) == 0 {
		return [][]string{base}
	}
	out := make([][]string, len(ors))
	for i, o := range ors {
		out[i] = append(slices.Clone(base), o...)
	}
	return out
}
