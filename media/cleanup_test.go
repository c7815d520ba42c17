package media_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/media"

	"github.com/minio/minio-go/v7"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func objectExists(t *testing.T, e *env, key string) bool {
	t.Helper()
	_, err := e.objects.Client.StatObject(context.Background(), e.objects.Bucket, key, minio.StatObjectOptions{})
	if err != nil && fieldsync.ErrorCode(media.MapError(err)) != fieldsync.ENotFound {
		t.Fatal(err)
	}
	return err == nil
}

func TestSweepRemovesOnlyStaleUploadsAndUncitedMedia(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now().Add(-10 * 24 * time.Hour)}
	opts := media.Options{CleanupAge: 48 * time.Hour, CleanupInterval: time.Minute, Now: clk.Now}
	e := newEnv(t, opts)

	// Ten days ago: an upload never completed (bytes sent, never verified),
	// one never sent, a stored photo a record cites, one nobody cites.
	oldSent := request(media.TypePNG, pngBytes(t, 3, 3))
	mOldSent, up := mustCreate(t, e, guardA, oldSent)
	putPresigned(t, up, pngBytes(t, 3, 3), nil)
	oldNever := request(media.TypePNG, pngBytes(t, 4, 4))
	mustCreate(t, e, guardA, oldNever)
	cited := mustStore(t, e, guardA, media.TypePNG, pngBytes(t, 5, 5))
	e.cites.Cite(cited.ID, inspection("s1", guardA.UserID))
	uncited := mustStore(t, e, guardA, media.TypePNG, pngBytes(t, 6, 6))
	e.svc.Wait()
	uncited, _ = e.store.GetMedia(context.Background(), "t1", uncited.ID)
	if uncited.ThumbKey == "" {
		t.Fatal("uncited media has no thumbnail to remove")
	}

	// One day ago: the same, too young to remove.
	clk.Add(9 * 24 * time.Hour)
	young := request(media.TypePNG, pngBytes(t, 7, 7))
	mustCreate(t, e, guardA, young)
	youngUncited := mustStore(t, e, guardA, media.TypePNG, pngBytes(t, 8, 8))
	e.svc.Wait()

	clk.Add(24 * time.Hour)
	r, err := e.svc.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Claimed || r.PendingRemoved != 2 || r.UncitedRemoved != 1 || r.StillCited != 1 {
		t.Fatalf("got %+v, want 2 pending and 1 uncited removed, 1 still cited", r)
	}
	for id, want := range map[string]bool{oldSent.ID: false, oldNever.ID: false, cited.ID: true, uncited.ID: false, young.ID: true, youngUncited.ID: true} {
		_, err := e.store.GetMedia(context.Background(), "t1", id)
		if got := err == nil; got != want {
			t.Errorf("media %s kept=%v, want %v (%v)", id, got, want, err)
		}
	}
	if objectExists(t, e, mOldSent.UploadKey) || objectExists(t, e, uncited.Key) || objectExists(t, e, uncited.ThumbKey) {
		t.Error("objects of removed media are still stored")
	}
	if !objectExists(t, e, cited.Key) || !objectExists(t, e, youngUncited.Key) {
		t.Error("objects of kept media were removed")
	}

	// The cited photo was checked at that sweep: the next one leaves it alone
	// until CleanupAge passes again; the young uncited photo is stale by then.
	clk.Add(36 * time.Hour)
	r, err = e.svc.Sweep(context.Background())
	if err != nil || r.StillCited != 0 || r.UncitedRemoved != 1 {
		t.Fatalf("second sweep: got %+v, %v; want only the young uncited photo removed", r, err)
	}
}

func TestSweepLeaseAllowsOneInstanceUntilItExpires(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now()}
	e := newEnv(t, media.Options{CleanupInterval: time.Minute, Now: clk.Now, Instance: "a"})
	other := media.NewService(e.store, e.objects, e.cites, media.Options{CleanupInterval: time.Minute, Now: clk.Now, Instance: "b"})

	var wg sync.WaitGroup
	claimed := make(chan bool, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := e.svc
			if i%2 == 1 {
				svc = other
			}
			r, err := svc.Sweep(context.Background())
			if err != nil {
				t.Error(err)
			}
			claimed <- r.Claimed
		}()
	}
	wg.Wait()
	close(claimed)
	n := 0
	for c := range claimed {
		if c {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d of 8 concurrent sweeps claimed the lease, want 1", n)
	}
	// The holder "dies": nobody renews; after the lease expires another takes it.
	clk.Add(30 * time.Second)
	if r, _ := other.Sweep(context.Background()); r.Claimed {
		t.Fatal("lease taken before it expired")
	}
	clk.Add(31 * time.Second)
	if r, err := other.Sweep(context.Background()); err != nil || !r.Claimed {
		t.Fatalf("got %+v, %v; want the expired lease claimed", r, err)
	}
}
