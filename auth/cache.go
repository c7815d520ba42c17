package auth

import (
	"sync"
	"time"

	"fieldsync"
)

// maxCacheEntries bounds the per-request lookup cache; beyond it the cache
// is emptied (cheap, and correct: entries are only an optimisation).
const maxCacheEntries = 50_000

type cacheEntry struct {
	sess   *fieldsync.Session
	user   *fieldsync.User
	loaded time.Time
}

// callerCache holds each session's session and user documents for ttl: the
// bound on how long a change made through another API instance (a revoked
// device, a deactivated user, a changed site list) can go unnoticed here.
// Changes made through this instance drop the affected entries at once.
type callerCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]*cacheEntry
	// gen counts invalidations: a load that began before one is not cached,
	// so a revocation cannot be undone by a concurrent request's stale read.
	gen uint64
}

func newCallerCache(ttl time.Duration) *callerCache {
	return &callerCache{ttl: ttl, m: map[string]*cacheEntry{}}
}

// get returns the fresh entry of sid, or nil and the generation to pass to put.
func (c *callerCache) get(sid string, now time.Time) (*cacheEntry, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[sid]
	if e == nil || now.Sub(e.loaded) >= c.ttl || now.Before(e.loaded) {
		return nil, c.gen
	}
	return e, c.gen
}

// put caches e unless something was invalidated since gen was read.
func (c *callerCache) put(sid string, e *cacheEntry, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= maxCacheEntries {
		c.m = map[string]*cacheEntry{}
	}
	c.m[sid] = e
}

func (c *callerCache) drop(sid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, sid)
}

func (c *callerCache) dropWhere(f func(*cacheEntry) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.m {
		if f(e) {
			delete(c.m, k)
		}
	}
}

// markSeen returns e with its session's generation gen marked seen, and
// caches that copy in e's place (entries are shared: never changed in place).
func (c *callerCache) markSeen(e *cacheEntry, gen int64) *cacheEntry {
	sess := *e.sess
	sess.SeenGeneration = max(sess.SeenGeneration, gen)
	ne := &cacheEntry{sess: &sess, user: e.user, loaded: e.loaded}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[sess.ID] == e {
		c.m[sess.ID] = ne
	}
	return ne
}
