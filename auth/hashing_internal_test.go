package auth

import (
	"context"
	"testing"
	"time"
)

// TestHashQueueFirstComeFirstServed: waiting logins get their turns in the
// order they asked, and one giving up leaves the others' order intact.
func TestHashQueueFirstComeFirstServed(t *testing.T) {
	t.Parallel()
	q := newHashQueue(1, 10, time.Hour, time.Millisecond)
	if _, err := q.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 5
	served := make(chan int, n)
	quitter, quit := context.WithCancel(context.Background())
	for i := range n {
		ctx := context.Background()
		if i == 2 {
			ctx = quitter
		}
		go func() {
			if _, err := q.acquire(ctx); err != nil {
				return
			}
			served <- i
		}()
		for q.waitingLen() != i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	quit()
	for q.waitingLen() != n-1 {
		time.Sleep(time.Millisecond)
	}
	var got []int
	for range n - 1 {
		q.release(time.Time{})
		got = append(got, <-served)
	}
	if want := []int{0, 1, 3, 4}; len(got) != len(want) || got[0] != 0 || got[1] != 1 || got[2] != 3 || got[3] != 4 {
		t.Fatalf("got turns in order %v, want %v", got, want)
	}
}
