package auth

import (
	"container/list"
	"context"
	"math"
	"runtime"
	"sync"
	"time"

	"fieldsync"
)

// Defaults of the login hashing queue (Options.ConcurrentHashes, LoginQueue, LoginWait).
const (
	DefaultLoginQueue = 64
	DefaultLoginWait  = 10 * time.Second
)

// defaultConcurrentHashes leaves one core to the database and sync traffic:
// a burst of logins must not starve the requests that keep phones syncing.
func defaultConcurrentHashes() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// hashQueue lets at most slots argon2id hashes run at once and queues the
// other logins first come, first served. A login that would wait longer than
// its budget (maxWait, or what is left of its request's deadline), or finds
// maxQueue logins already waiting, is refused at once with 503 and a
// Retry-After from the queue's expected drain time, rather than timing out
// after a long wait.
type hashQueue struct {
	slots    int
	maxQueue int
	maxWait  time.Duration

	mu      sync.Mutex
	running int
	waiting list.List // of chan struct{}, closed when granted a slot
	// avg is the recent duration of one hash (exponentially weighted).
	avg time.Duration
}

func newHashQueue(slots, maxQueue int, maxWait, firstHash time.Duration) *hashQueue {
	return &hashQueue{slots: slots, maxQueue: maxQueue, maxWait: maxWait, avg: max(firstHash, time.Millisecond)}
}

// expectedWait is how long a login joining behind ahead waiting ones waits for its turn. Call with mu held.
func (q *hashQueue) expectedWait(ahead int) time.Duration {
	return time.Duration(ahead/q.slots+1) * q.avg
}

func (q *hashQueue) busy(wait time.Duration, cause error) error {
	return &fieldsync.Error{Code: fieldsync.EUnavailable, Message: "too many logins at once; retry",
		RetryAfter: max(1, int(math.Ceil(wait.Seconds()))), Err: cause}
}

// acquire waits for a turn and returns when it began; pass that to release.
func (q *hashQueue) acquire(ctx context.Context) (time.Time, error) {
	q.mu.Lock()
	if q.running < q.slots && q.waiting.Len() == 0 {
		q.running++
		q.mu.Unlock()
		return time.Now(), nil
	}
	ahead := q.waiting.Len()
	wait := q.expectedWait(ahead)
	budget := q.maxWait
	if dl, ok := ctx.Deadline(); ok {
		// The hash itself must also fit before the deadline.
		budget = min(budget, time.Until(dl)-q.avg)
	}
	if ahead >= q.maxQueue || wait > budget {
		q.mu.Unlock()
		return time.Time{}, q.busy(wait, nil)
	}
	turn := make(chan struct{})
	el := q.waiting.PushBack(turn)
	q.mu.Unlock()

	timer := time.NewTimer(budget)
	defer timer.Stop()
	var cause error
	select {
	case <-turn:
		return time.Now(), nil
	case <-ctx.Done():
		cause = ctx.Err()
	case <-timer.C:
		cause = context.DeadlineExceeded
	}
	q.mu.Lock()
	select {
	case <-turn:
		// Granted while giving up: pass the turn on.
		q.mu.Unlock()
		q.release(time.Time{})
		q.mu.Lock()
	default:
		q.waiting.Remove(el)
	}
	wait = q.expectedWait(q.waiting.Len())
	q.mu.Unlock()
	return time.Time{}, q.busy(wait, cause)
}

// release ends a turn begun at start (zero: not a hash, do not learn from
// its duration) and hands the slot to the longest-waiting login.
func (q *hashQueue) release(start time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !start.IsZero() {
		q.avg = (7*q.avg + time.Since(start)) / 8
	}
	if front := q.waiting.Front(); front != nil {
		q.waiting.Remove(front)
		close(front.Value.(chan struct{}))
		return
	}
	q.running--
}

// waitingLen reports how many logins wait for a turn.
func (q *hashQueue) waitingLen() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.waiting.Len()
}
