package sync_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"fieldsync"
	"fieldsync/devstack/devtest"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"

	"github.com/klauspost/compress/s2"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func inspections(n int, site string) []fieldsync.Mutation {
	ms := make([]fieldsync.Mutation, n)
	for i := range ms {
		ms[i] = createInspection(newID(), site)
	}
	return ms
}

func pullPage(t *testing.T, e *fsync.Engine, c *fieldsync.Caller, cursor string, limit int) fieldsync.PullResult {
	t.Helper()
	p, err := e.Pull(as(c), fieldsync.PullRequest{Cursor: cursor, Limit: limit})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ids(p fieldsync.PullResult) []string {
	var out []string
	for _, ch := range p.Changes {
		out = append(out, ch.ID)
	}
	return out
}

// A bootstrap walked page by page runs one query, continued page after page:
// on the embedded database every query decodes the whole collection. A page
// asked again (a retry after a lost answer) is answered the same, and the walk
// still continues from either answer.
func TestPagedPullContinuesOneQuery(t *testing.T) {
	t.Parallel()
	counter := mongodb.NewCommandCounter()
	store := devtest.MustOpenStore(t)
	h := openOn(t, devtest.MustOpenStoreDB(t, store.DB.Name(), mongodb.Options{Monitor: counter}), fsync.Options{})
	h.push(agent1, inspections(500, "s1")...)
	h.push(agent1, inspections(450, "s1")...)

	finds := counter.CountOf("find")
	var tokens []string
	var pages []fieldsync.PullResult
	seen := map[string]int{}
	for c := ""; ; {
		p := pullPage(t, h.e, guard1, c, 100)
		tokens, pages = append(tokens, c), append(pages, p)
		for _, id := range ids(p) {
			seen[id]++
		}
		c = p.Cursor
		if !p.HasMore {
			break
		}
	}
	if len(seen) != 950 {
		t.Fatalf("got %d records, want 950", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("record %s handed out %d times", id, n)
		}
	}
	// Per page one find of the counter (the high-water mark); besides, one
	// find per collection the bootstrap walks (the harness declares two: the
	// inspections' query continued page after page, the work orders empty) and
	// one for the log part after it.
	if got := counter.CountOf("find") - finds - int64(len(pages)); got > 3 {
		t.Fatalf("%d finds on records for %d pages, want the scan continued (at most 3)", got, len(pages))
	}
	if n := fsync.HeldQueries(h.e); n != 0 {
		t.Fatalf("%d queries still held after the walk ended", n)
	}

	// A retried page: same answer, and the walk goes on from it.
	h2 := openOn(t, store, fsync.Options{})
	var retry []string
	c := ""
	for i := 0; i < 4; i++ {
		p := pullPage(t, h2.e, guard1, c, 100)
		if i == 3 {
			again := pullPage(t, h2.e, guard1, c, 100)
			if !slices.Equal(ids(again), ids(p)) {
				t.Fatalf("a retried page differs: %v then %v", ids(p), ids(again))
			}
			p = again
		}
		retry = append(retry, ids(p)...)
		c = p.Cursor
	}
	for {
		p := pullPage(t, h2.e, guard1, c, 100)
		retry = append(retry, ids(p)...)
		c = p.Cursor
		if !p.HasMore {
			break
		}
	}
	slices.Sort(retry)
	if len(slices.Compact(retry)) != 950 {
		t.Fatalf("walk after a retried page: %d distinct records, want 950", len(slices.Compact(retry)))
	}
}

// A device that pushes while it is catching up page by page finds its own
// change in the same walk: the query held from before the push does not hold
// it, so it is not continued.
func TestHeldLogQueryKeepsReadYourWrites(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{})
	r := newReplica(guard1)
	r.sync(t, h.e, 0)
	h.push(agent1, inspections(300, "s1")...)
	p := pullPage(t, h.e, guard1, r.cursor, 100)
	if !p.HasMore {
		t.Fatal("want a catch-up of several pages")
	}
	for _, ch := range p.Changes {
		r.apply(ch)
	}
	r.cursor = p.Cursor
	mine := newID()
	wantStatus(t, h.push(guard1, createInspection(mine, "s1")), "applied")
	r.sync(t, h.e, 100)
	if _, ok := r.docs["inspections/"+mine]; !ok {
		t.Fatal("the device's own acknowledged push is missing after its next pull")
	}
	if len(r.docs) != 301 {
		t.Fatalf("got %d records, want 301", len(r.docs))
	}
}

// The recent change log keeps a tenant's last LogWindow positions: a device
// within it catches up from there, one further behind from the records; both
// end with what a fresh bootstrap gets, and the window stays bounded.
func TestRecentLogWindow(t *testing.T) {
	t.Parallel()
	const window = 64
	h := newHarness(t, fsync.Options{LogWindow: window})
	near, far := newReplica(guard1), newReplica(agent1)
	h.push(agent1, inspections(9, "s1")...)
	h.push(guard2, inspections(1, "s1")...) // guard2's last-push mark is pruned by the trims below
	near.sync(t, h.e, 0)
	far.sync(t, h.e, 0)

	order := newID()
	wantStatus(t, h.push(agent1, createOrder(order, "s1")), "applied")
	for i := 0; i < 6; i++ { // 6 × 40 positions: far's cursor leaves the window
		h.push(agent1, inspections(40, "s1")...)
		wantStatus(t, h.push(agent1, update("work_orders", order, int64(i+1), "title", fmt.Sprint("v", i))), "applied")
		near.sync(t, h.e, 7) // near keeps up, from the window
	}
	far.sync(t, h.e, 7)
	fresh := newReplica(agent1)
	fresh.sync(t, h.e, 0)
	if len(fresh.docs) != 10+1+240 {
		t.Fatalf("fresh bootstrap: %d records", len(fresh.docs))
	}
	want := strings.Join(fresh.versions(), ",")
	for _, r := range []*replica{near, far} {
		// guard1 does not see work orders; compare inspections.
		got := strings.Join(r.versions(), ",")
		if r.c == guard1 {
			want := strings.Join(slices.DeleteFunc(fresh.versions(), func(v string) bool { return strings.HasPrefix(v, "work_orders/") }), ",")
			if got != want {
				t.Fatalf("near (from the window) differs from a bootstrap:\n%s\n%s", got, want)
			}
			continue
		}
		if got != want {
			t.Fatalf("far (behind the window) differs from a bootstrap:\n%s\n%s", got, want)
		}
	}
	cur, err := h.store.DB.Collection(mongodb.LogCollection).Find(context.Background(), bson.M{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		R []byte `bson:"r"`
	}
	if err := cur.All(context.Background(), &docs); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range docs {
		var es struct {
			E []bson.Raw `bson:"e"`
		}
		b, err := s2.Decode(nil, d.R)
		if err != nil {
			t.Fatal(err)
		}
		if err := bson.Unmarshal(b, &es); err != nil {
			t.Fatal(err)
		}
		n += len(es.E)
	}
	if n > 2*window+41 || n < window {
		t.Fatalf("the recent change log holds %d changes, want about %d", n, window)
	}
	var counter struct {
		W map[string]int64 `bson:"w"`
	}
	if err := h.store.DB.Collection(mongodb.CountersCollection).FindOne(context.Background(), bson.M{"_id": tenant}).Decode(&counter); err != nil {
		t.Fatal(err)
	}
	if len(counter.W) != 1 {
		t.Fatalf("last-push marks %v, want only the device that pushed within the window", counter.W)
	}
}

// A catch-up whose rest is too big to keep in memory is not held: each page
// reads the recent change log again, and the walk hands out every change once.
func TestBigCatchUpIsNotHeld(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{})
	r := newReplica(guard1)
	r.sync(t, h.e, 0)
	for range 5 {
		h.push(agent1, inspections(420, "s1")...) // 2,100 changes: more than a held rest may keep
	}
	p := pullPage(t, h.e, guard1, r.cursor, 50)
	if !p.HasMore || fsync.HeldQueries(h.e) != 0 {
		t.Fatalf("has_more %v, %d held: want more to come and nothing held", p.HasMore, fsync.HeldQueries(h.e))
	}
	for _, ch := range p.Changes {
		r.apply(ch)
	}
	r.cursor = p.Cursor
	r.sync(t, h.e, 500)
	if len(r.docs) != 2100 {
		t.Fatalf("got %d records, want 2100", len(r.docs))
	}
}

// TestUnsortedBootstrapWalk: with mongodb.Tuning.UnsortedScans a bootstrap walks
// each collection in the database's own order through one query continued
// page after page, handing out every record once. A page that finds that
// query gone — served by another instance, or a retried page — walks the
// collection again by position: records may come again on later pages
// (never twice in one page), none is missed, and the walk ends equal to a
// fresh bootstrap.
func TestUnsortedBootstrapWalk(t *testing.T) {
	t.Parallel()
	counter := mongodb.NewCommandCounter()
	store := devtest.MustOpenStore(t)
	unsorted := mongodb.Tuning{UnsortedScans: true}
	h := openTunedOn(t, devtest.MustOpenStoreDB(t, store.DB.Name(), mongodb.Options{Monitor: counter}), unsorted, fsync.Options{})
	h2 := openTunedOn(t, store, unsorted, fsync.Options{})
	h.push(agent1, inspections(500, "s1")...)
	h.push(agent1, inspections(450, "s1")...)
	want := bootstrapVersions(t, h.e, guard1)

	// One instance: one query per collection, every record once.
	finds := counter.CountOf("find")
	seen := map[string]int{}
	pages := 0
	for c := ""; ; pages++ {
		p := pullPage(t, h.e, guard1, c, 100)
		for _, id := range ids(p) {
			seen[id]++
		}
		if c = p.Cursor; !p.HasMore {
			pages++
			break
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("record %s handed out %d times in one instance's walk", id, n)
		}
	}
	if len(seen) != 950 {
		t.Fatalf("got %d records, want 950", len(seen))
	}
	if got := counter.CountOf("find") - finds - int64(pages); got > 3 {
		t.Fatalf("%d finds on records for %d pages, want the walk continued (at most 3)", got, pages)
	}

	// Pages alternating between two instances, and a retried page.
	for name, engine := range map[string]func(page int) *fsync.Engine{
		"two instances": func(page int) *fsync.Engine { return []*fsync.Engine{h.e, h2.e}[page%2] },
		"retried page":  func(int) *fsync.Engine { return h.e },
	} {
		r := newReplica(guard1)
		for page := 0; ; page++ {
			p := pullPage(t, engine(page), guard1, r.cursor, 100)
			if name == "retried page" && page == 3 {
				p = pullPage(t, engine(page), guard1, r.cursor, 100) // the answer was lost
			}
			inPage := map[string]bool{}
			for _, ch := range p.Changes {
				if inPage[ch.ID] {
					t.Fatalf("%s: record %s twice in one page", name, ch.ID)
				}
				inPage[ch.ID] = true
				r.apply(ch)
			}
			if r.cursor = p.Cursor; !p.HasMore {
				break
			}
			if page > 100 {
				t.Fatalf("%s: the walk does not end", name)
			}
		}
		got := map[string]int64{}
		for _, ch := range r.docs {
			got[ch.ID] = ch.Version
		}
		if len(got) != len(want) {
			t.Fatalf("%s: walk ended with %d records, a fresh bootstrap has %d", name, len(got), len(want))
		}
	}
}

// TestHeldQueryKilledByTheDatabase: when the database ends a held query
// between pages (a restart, its cursor timeout), the walk goes on from a
// fresh query — by position the same page, unsorted from the collection's
// start — and still hands out every record, never twice in one page.
func TestHeldQueryKilledByTheDatabase(t *testing.T) {
	t.Parallel()
	for _, unsorted := range []bool{false, true} {
		t.Run(fmt.Sprintf("unsorted=%v", unsorted), func(t *testing.T) {
			t.Parallel()
			h := newTunedHarness(t, mongodb.Tuning{UnsortedScans: unsorted}, fsync.Options{})
			h.push(agent1, inspections(500, "s1")...)
			h.push(agent1, inspections(450, "s1")...)
			r := newReplica(guard1)
			for page := 0; ; page++ {
				if page == 3 {
					ids := fsync.HeldCursorIDs(h.e)
					if len(ids) == 0 {
						t.Fatal("no query held after three pages")
					}
					var res bson.M
					if err := h.store.DB.RunCommand(context.Background(), bson.D{{Key: "killCursors", Value: "inspections"}, {Key: "cursors", Value: ids}}).Decode(&res); err != nil {
						t.Fatal(err)
					}
				}
				p := pullPage(t, h.e, guard1, r.cursor, 100)
				inPage := map[string]bool{}
				for _, ch := range p.Changes {
					if inPage[ch.ID] {
						t.Fatalf("record %s twice in one page", ch.ID)
					}
					inPage[ch.ID] = true
					r.apply(ch)
				}
				if r.cursor = p.Cursor; !p.HasMore {
					break
				}
				if page > 100 {
					t.Fatal("the walk does not end")
				}
			}
			if len(r.docs) != 950 {
				t.Fatalf("walk ended with %d records, want 950", len(r.docs))
			}
		})
	}
}
