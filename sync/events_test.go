package sync_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fieldsync"
	fsync "fieldsync/sync"
)

// watcher records what one Watch was told.
type watcher struct {
	changed atomic.Int32
	ended   atomic.Int32
	after   atomic.Int32 // calls after the end
}

func (w *watcher) notify(ended bool) {
	if w.ended.Load() > 0 {
		w.after.Add(1)
	}
	if ended {
		w.ended.Add(1)
		return
	}
	w.changed.Add(1)
}

// TestWatchFanOutReachesEverySubscriber (#17): one change reaches every
// subscriber whose scope it is in — hundreds of them, several per user —
// and none whose scope it is not; each watch ends once, and is told nothing
// after its end.
func TestWatchFanOutReachesEverySubscriber(t *testing.T) {
	t.Parallel()
	const perUser = 150
	h := newHarness(t, fsync.Options{MaxSubscriptions: perUser})
	ctx, cancel := context.WithCancel(context.Background())
	var in, out []*watcher
	watch := func(parent context.Context, c *fieldsync.Caller) *watcher {
		w := &watcher{}
		wctx, stop := contextWithCaller(c)
		t.Cleanup(stop)
		context.AfterFunc(parent, stop)
		if err := h.e.Watch(wctx, w.notify); err != nil {
			t.Fatal(err)
		}
		return w
	}
	for range perUser {
		in = append(in, watch(ctx, agent1), watch(ctx, guard1))
		out = append(out, watch(ctx, super2))
	}
	h.push(guard1, createInspection(newID(), "s1"))
	deadline := time.Now().Add(20 * time.Second)
	for _, w := range in {
		for w.changed.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	var missed int
	for _, w := range in {
		if w.changed.Load() == 0 {
			missed++
		}
	}
	if missed > 0 {
		t.Fatalf("%d of %d subscribers in scope got no changed within 20 s", missed, len(in))
	}
	for i, w := range out {
		if n := w.changed.Load(); n != 0 {
			t.Fatalf("subscriber %d out of scope (site s2) got %d changed for a change at s1", i, n)
		}
	}
	cancel()
	var wg sync.WaitGroup
	for _, w := range append(in, out...) {
		wg.Go(func() {
			for w.ended.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	for i, w := range append(in, out...) {
		if w.ended.Load() != 1 || w.after.Load() != 0 {
			t.Fatalf("watch %d: ended %d times, told %d things after its end; want ended once, nothing after", i, w.ended.Load(), w.after.Load())
		}
	}
	// Every slot is free again.
	for range perUser {
		watch(context.Background(), agent1)
	}
}
