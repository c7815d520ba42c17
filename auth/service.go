// Package auth is fieldsync's identity service: users and their passwords,
// device sessions with rotating refresh tokens, Ed25519-signed access tokens,
// login throttling, and the per-request lookup that turns a bearer token into
// a *fieldsync.Caller with the user's current role and sites.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"fieldsync"

	"github.com/google/uuid"
)

// UserStore keeps users. Errors are *fieldsync.Error (not_found, conflict, unavailable).
type UserStore interface {
	CreateUser(ctx context.Context, u *fieldsync.User) error
	UserByID(ctx context.Context, id string) (*fieldsync.User, error)
	// UsersByID returns the users among ids that exist, in no particular order.
	UsersByID(ctx context.Context, ids []string) ([]*fieldsync.User, error)
	UserByUsername(ctx context.Context, tenant, username string) (*fieldsync.User, error)
	ListUsers(ctx context.Context, tenant string) ([]*fieldsync.User, error)
	ReplaceUser(ctx context.Context, u *fieldsync.User) error
}

// SessionStore keeps device sessions.
type SessionStore interface {
	CreateSession(ctx context.Context, s *fieldsync.Session) error
	SessionByID(ctx context.Context, id string) (*fieldsync.Session, error)
	// SessionsByID returns the sessions among ids that exist, in no particular order.
	SessionsByID(ctx context.Context, ids []string) ([]*fieldsync.Session, error)
	SessionsOfUser(ctx context.Context, tenant, userID string) ([]*fieldsync.Session, error)
	// SwapRefresh replaces the refresh state of the unrevoked session next.ID
	// if its current hash is still expectHash and no generation beyond
	// expectSeen was marked seen meanwhile.
	SwapRefresh(ctx context.Context, expectHash string, expectSeen int64, next *fieldsync.Session) (bool, error)
	// MarkGenerationSeen records that the access token of generation gen of
	// session id was used, if gen is still the session's current generation
	// and not yet marked; it reports whether it marked it.
	MarkGenerationSeen(ctx context.Context, id string, gen int64) (bool, error)
	RevokeSessions(ctx context.Context, f fieldsync.SessionFilter, now time.Time, reason string) (int, error)
}

// CounterStore keeps fixed-window counters shared by every API instance.
type CounterStore interface {
	Counters(ctx context.Context, ids []string) (map[string]int, error)
	IncrementCounter(ctx context.Context, id string, expires time.Time) error
	DeleteCounters(ctx context.Context, ids []string) error
	PurgeCounters(ctx context.Context, now time.Time) error
}

// TenantDefaults records the tenant used by logins that name none when
// FIELDSYNC_DEFAULT_TENANT is unset (the demo seed records `demo`).
type TenantDefaults interface {
	DefaultTenant(ctx context.Context) (string, error)
	SetDefaultTenantIfUnset(ctx context.Context, tenant string) error
}

// Store is everything the service keeps; *mongodb.Store implements it.
type Store interface {
	UserStore
	SessionStore
	CounterStore
	TenantDefaults
}

// Defaults of Options.
const (
	DefaultAccessTTL  = 15 * time.Minute
	DefaultRefreshTTL = 30 * 24 * time.Hour
	DefaultCacheTTL   = 5 * time.Second
)

// Options configure a Service. Zero values mean the defaults.
type Options struct {
	Store Store
	// Keys sign and verify access tokens (required).
	Keys *KeySet
	// Now is the clock (tests inject one).
	Now func() time.Time
	// AccessTTL is the lifetime of an access token (default 15m).
	AccessTTL time.Duration
	// RefreshTTL is the sliding lifetime of a device session: each refresh
	// extends it to now+RefreshTTL (default 30 days).
	RefreshTTL time.Duration
	// ReuseGrace, when positive, bounds how long after a rotation the rotated
	// refresh token may still be presented again by a phone that lost the
	// answer (while the new pair is unused). Zero means no bound but the
	// session's own lifetime: a phone may next have signal hours later.
	ReuseGrace time.Duration
	// CacheTTL bounds how stale a request's view of its user and session may
	// be on an instance that did not make the change itself (default 5s).
	CacheTTL time.Duration
	// DefaultTenant is used by logins that name no tenant; when empty, the
	// tenant recorded in the store (by the demo seed) is used.
	DefaultTenant string
	// Throttle limits login failures.
	Throttle ThrottleOptions
	// Password sets the argon2id cost of new password hashes (tests lower it).
	Password PasswordParams
	// ConcurrentHashes bounds the argon2id hashes computed at once (default:
	// GOMAXPROCS-1, at least 1, so a core stays free for the database and
	// sync traffic). Each takes the hash's memory (7 MiB) and a core: forty
	// phones logging in together must not take forty times that; the others
	// queue, first come first served.
	ConcurrentHashes int
	// LoginQueue bounds the logins waiting for a hashing turn (default 64);
	// one more is answered 503 with Retry-After at once.
	LoginQueue int
	// LoginWait bounds how long a login waits for its turn (default 10s, and
	// never past its request's deadline); a login that would wait longer is
	// answered 503 with Retry-After at once.
	LoginWait time.Duration
	Logger    *slog.Logger
}

// Service is the identity service.
type Service struct {
	opts  Options
	store Store
	keys  *KeySet
	log   *slog.Logger
	cache *callerCache
	// dummyHash is checked for unknown usernames so that "no such user"
	// costs the same time as "wrong password".
	dummyHash string
	// lastPurge is when this instance last purged expired login counters (unix seconds).
	lastPurge atomic.Int64
	// hashing queues the argon2id hashes.
	hashing *hashQueue
}

// New returns a service on opts.
func New(opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AccessTTL <= 0 {
		opts.AccessTTL = DefaultAccessTTL
	}
	if opts.RefreshTTL <= 0 {
		opts.RefreshTTL = DefaultRefreshTTL
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Throttle = opts.Throttle.withDefaults()
	opts.Password = opts.Password.withDefaults()
	if opts.ConcurrentHashes <= 0 {
		opts.ConcurrentHashes = defaultConcurrentHashes()
	}
	if opts.LoginQueue <= 0 {
		opts.LoginQueue = DefaultLoginQueue
	}
	if opts.LoginWait <= 0 {
		opts.LoginWait = DefaultLoginWait
	}
	start := time.Now()
	dummy, err := opts.Password.Hash("fieldsync-no-such-user")
	if err != nil {
		panic(fmt.Sprintf("auth: no randomness: %v", err))
	}
	return &Service{opts: opts, store: opts.Store, keys: opts.Keys, log: opts.Logger, cache: newCallerCache(opts.CacheTTL), dummyHash: dummy,
		hashing: newHashQueue(opts.ConcurrentHashes, opts.LoginQueue, opts.LoginWait, time.Since(start))}
}

// hashPassword hashes a new password in its turn.
func (s *Service) hashPassword(ctx context.Context, password string) (string, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	hash, err := s.opts.Password.Hash(password)
	if err != nil {
		return "", fieldsync.WrapError(fieldsync.EInternal, "could not hash password", err)
	}
	return hash, nil
}

// hashSlot waits for a turn to compute an argon2id hash; release it when
// done. It answers unavailable with RetryAfter when the turn would come too late.
func (s *Service) hashSlot(ctx context.Context) (release func(), err error) {
	start, err := s.hashing.acquire(ctx)
	if err != nil {
		return nil, err
	}
	return func() { s.hashing.release(start) }, nil
}

func (s *Service) now() time.Time { return s.opts.Now() }

// Keys returns the key set (for JWKS and rotation).
func (s *Service) Keys() *KeySet { return s.keys }

// AccessTTL returns the access-token lifetime.
func (s *Service) AccessTTL() time.Duration { return s.opts.AccessTTL }

// Tokens is what login and refresh answer.
type Tokens struct {
	AccessToken  string
	ExpiresIn    int
	RefreshToken string
	User         *fieldsync.User
	Session      *fieldsync.Session
}

// LoginInput is one login attempt.
type LoginInput struct {
	Tenant   string
	Username string
	Password string
	DeviceID string
	// Addr is the client address, for throttling.
	Addr string
}

var errBadCredentials = fieldsync.Errorf(fieldsync.EUnauthorized, "invalid username or password")

// Login checks credentials and opens a session for the device, replacing any
// earlier session of the same user on that device. Unknown users, wrong
// passwords and deactivated users answer the same unauthorized error after the
// same work. Too many failures answer rate_limited with RetryAfter.
func (s *Service) Login(ctx context.Context, in LoginInput) (*Tokens, error) {
	in.Username = normalizeUsername(in.Username)
	if in.Tenant == "" {
		in.Tenant = s.opts.DefaultTenant
	}
	if in.Tenant == "" {
		t, err := s.store.DefaultTenant(ctx)
		if err != nil {
			return nil, err
		}
		in.Tenant = t
	}
	if err := validateLogin(in); err != nil {
		return nil, err
	}
	now := s.now()
	keys := newThrottleKeys(in.Tenant, in.Username, in.Addr)
	if err := s.checkThrottle(ctx, now, keys); err != nil {
		return nil, err
	}
	u, err := s.store.UserByUsername(ctx, in.Tenant, in.Username)
	if err != nil && fieldsync.ErrorCode(err) != fieldsync.ENotFound {
		return nil, err
	}
	hash := s.dummyHash
	if u != nil {
		hash = u.PasswordHash
	}
	release, err := s.hashSlot(ctx)
	if err != nil {
		return nil, err
	}
	ok, herr := CheckPassword(hash, in.Password)
	release()
	if herr != nil && u != nil {
		s.log.ErrorContext(ctx, "auth: stored password hash unreadable", "user_id", u.ID)
	}
	if u == nil || !ok || !u.Active {
		if err := s.recordFailure(ctx, now, keys); err != nil {
			return nil, err
		}
		return nil, errBadCredentials
	}
	if err := s.clearFailures(ctx, now, keys); err != nil {
		return nil, err
	}
	if _, err := s.store.RevokeSessions(ctx, fieldsync.SessionFilter{TenantID: u.TenantID, UserID: u.ID, DeviceID: in.DeviceID}, now, "replaced by a new login"); err != nil {
		return nil, err
	}
	s.cache.dropWhere(func(e *cacheEntry) bool { return e.user.ID == u.ID && e.sess.DeviceID == in.DeviceID })
	refresh, hash2, err := newRefreshToken()
	if err != nil {
		return nil, err
	}
	sess := &fieldsync.Session{
		ID: refresh.sessionID, TenantID: u.TenantID, UserID: u.ID, DeviceID: in.DeviceID,
		RefreshHash: hash2, UsedHashes: []string{}, Generation: 1,
		CreatedAt: now, LastUsedAt: now, RotatedAt: now, ExpiresAt: now.Add(s.opts.RefreshTTL),
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "auth: login", "tenant", u.TenantID, "user_id", u.ID, "device_id", in.DeviceID, "session_id", sess.ID)
	return s.issue(u, sess, refresh.token, now)
}

func (s *Service) issue(u *fieldsync.User, sess *fieldsync.Session, refresh string, now time.Time) (*Tokens, error) {
	access, err := s.signAccess(sess, now)
	if err != nil {
		return nil, fieldsync.WrapError(fieldsync.EInternal, "could not sign token", err)
	}
	return &Tokens{AccessToken: access, ExpiresIn: int(s.opts.AccessTTL / time.Second), RefreshToken: refresh, User: u, Session: sess}, nil
}

// maxUsedHashes bounds how many rotated refresh tokens a session remembers
// for reuse detection: at one refresh per 15 minutes, about 16 hours of use.
const maxUsedHashes = 64

// remember appends h to the bounded list of used hashes.
func remember(used []string, h string) []string {
	out := append(slices.Clone(used), h)
	if len(out) > maxUsedHashes {
		out = out[len(out)-maxUsedHashes:]
	}
	return out
}

// maxRefreshAttempts bounds retries of the compare-and-swap against
// concurrent refreshes of one session.
const maxRefreshAttempts = 3

var (
	errBadRefresh   = fieldsync.Errorf(fieldsync.EUnauthorized, "invalid refresh token")
	errSessionEnded = fieldsync.Errorf(fieldsync.EUnauthorized, "session expired or revoked; log in again")
	errReused       = fieldsync.Errorf(fieldsync.EUnauthorized, "refresh token already used; the device session is revoked; log in again")
	errUserInactive = fieldsync.Errorf(fieldsync.EUnauthorized, "user deactivated")
)

// Refresh exchanges a refresh token for a new pair and rotates it: the token
// presented stops working. Presenting a rotated token again revokes the whole
// device session (theft signal) — except the token rotated last while the
// pair it was exchanged for has never been used (neither its access token on
// a request nor its refresh token presented): that is a phone retrying a
// refresh whose answer it never received, maybe hours later, and it gets a
// fresh pair. The pair it lost is superseded: its access token is refused and
// presenting its refresh token later is theft too.
func (s *Service) Refresh(ctx context.Context, token string) (*Tokens, error) {
	sid, ok := parseRefreshToken(token)
	if !ok {
		return nil, errBadRefresh
	}
	h := hashToken(token)
	for range maxRefreshAttempts {
		now := s.now()
		sess, err := s.store.SessionByID(ctx, sid)
		if fieldsync.ErrorCode(err) == fieldsync.ENotFound {
			return nil, errBadRefresh
		} else if err != nil {
			return nil, err
		}
		next := *sess
		switch {
		case equalHash(h, sess.RefreshHash):
			next.UsedHashes = remember(sess.UsedHashes, h)
			next.GraceHash, next.GraceGeneration, next.RotatedAt = h, sess.Generation, now
			next.SeenGeneration = max(sess.SeenGeneration, sess.Generation)
		case sess.GraceHash != "" && equalHash(h, sess.GraceHash) && sess.SeenGeneration < sess.Generation &&
			(s.opts.ReuseGrace <= 0 || now.Sub(sess.RotatedAt) <= s.opts.ReuseGrace):
			// A retry while the current pair is unused: mint again and
			// remember the superseded token — it was never delivered, so
			// whoever presents it later is not this phone.
			next.UsedHashes = remember(sess.UsedHashes, sess.RefreshHash)
		case containsHash(sess.UsedHashes, h) || sess.GraceHash != "" && equalHash(h, sess.GraceHash):
			if sess.Active(now) {
				n, err := s.store.RevokeSessions(ctx, fieldsync.SessionFilter{TenantID: sess.TenantID, ID: sess.ID}, now, "refresh token reuse")
				if err != nil {
					return nil, err
				}
				s.cache.drop(sess.ID)
				s.log.WarnContext(ctx, "auth: refresh token reuse; session revoked", "tenant", sess.TenantID, "user_id", sess.UserID, "device_id", sess.DeviceID, "session_id", sess.ID, "revoked", n)
			}
			return nil, errReused
		default:
			return nil, errBadRefresh
		}
		if !sess.Active(now) {
			return nil, errSessionEnded
		}
		u, err := s.store.UserByID(ctx, sess.UserID)
		if err != nil && fieldsync.ErrorCode(err) != fieldsync.ENotFound {
			return nil, err
		}
		if u == nil || !u.Active || u.TenantID != sess.TenantID {
			return nil, errUserInactive
		}
		refresh, newHash, err := newRefreshTokenFor(sess.ID)
		if err != nil {
			return nil, err
		}
		next.RefreshHash, next.Generation, next.LastUsedAt, next.ExpiresAt = newHash, sess.Generation+1, now, now.Add(s.opts.RefreshTTL)
		// The swap fails if the current pair was used meanwhile (its access
		// token marked seen): the retry is then looked at again as reuse.
		swapped, err := s.store.SwapRefresh(ctx, sess.RefreshHash, sess.SeenGeneration, &next)
		if err != nil {
			return nil, err
		}
		if !swapped {
			continue // a concurrent refresh, a first use or a revocation: look again
		}
		s.cache.drop(sess.ID)
		return s.issue(u, &next, refresh, now)
	}
	return nil, fieldsync.Errorf(fieldsync.EConflict, "concurrent refreshes of one session; retry")
}

// Logout revokes the caller's session (this device only).
func (s *Service) Logout(ctx context.Context) error {
	c := fieldsync.CallerFromContext(ctx)
	if c == nil {
		return fieldsync.Errorf(fieldsync.EUnauthorized, "not authenticated")
	}
	if _, err := s.store.RevokeSessions(ctx, fieldsync.SessionFilter{TenantID: c.TenantID, ID: c.SessionID}, s.now(), "logout"); err != nil {
		return err
	}
	s.cache.drop(c.SessionID)
	return nil
}

var errBadAccess = fieldsync.Errorf(fieldsync.EUnauthorized, "missing or invalid access token")

// Authenticate verifies a bearer access token and returns the caller with the
// user's role, department and sites as they are now (at most CacheTTL stale).
// A revoked session, a deactivated user or an expired session is unauthorized
// on the next request, whatever the token's own expiry; so is the access token
// of a pair superseded by a refresh retry. The first use of a pair's access
// token is recorded (one conditional update per pair and instance), so that
// the refresh token it was exchanged for can no longer be retried.
func (s *Service) Authenticate(ctx context.Context, bearer string) (*fieldsync.Caller, error) {
	claims, err := s.parseAccess(bearer)
	if err != nil {
		return nil, &fieldsync.Error{Code: fieldsync.EUnauthorized, Message: errBadAccess.Message, Err: err}
	}
	now := s.now()
	e, err := s.lookup(ctx, claims.SessionID, now)
	if err != nil {
		return nil, err
	}
	if e == nil || e.sess.UserID != claims.Subject || e.sess.TenantID != claims.TenantID || e.sess.DeviceID != claims.DeviceID {
		return nil, errBadAccess
	}
	if !e.sess.Active(now) {
		return nil, errSessionEnded
	}
	if !e.user.Active {
		return nil, errUserInactive
	}
	if claims.Generation > 0 {
		if e, err = s.useGeneration(ctx, e, claims.Generation, now); err != nil {
			return nil, err
		}
	}
	return &fieldsync.Caller{
		UserID: e.user.ID, Name: e.user.Name, TenantID: e.user.TenantID, DeviceID: e.sess.DeviceID, SessionID: e.sess.ID,
		Role: e.user.Role, Department: e.user.Department, SiteIDs: slices.Clone(e.user.SiteIDs),
	}, nil
}

var errSuperseded = fieldsync.Errorf(fieldsync.EUnauthorized, "access token superseded by a later refresh; refresh again")

// useGeneration checks that an access token of generation gen is not
// superseded and marks gen seen the first time it is used.
func (s *Service) useGeneration(ctx context.Context, e *cacheEntry, gen int64, now time.Time) (*cacheEntry, error) {
	reloaded, tried := false, false
	for {
		if gen > e.sess.Generation && !reloaded {
			// Issued after this entry was cached (a refresh on another instance).
			if err := s.reload(ctx, &e, now); err != nil {
				return nil, err
			}
			reloaded = true
			continue
		}
		switch {
		case gen > e.sess.Generation:
			return nil, errBadAccess
		case gen < e.sess.Generation && gen > e.sess.GraceGeneration:
			return nil, errSuperseded
		case gen < e.sess.Generation || e.sess.SeenGeneration >= gen:
			return e, nil
		case tried:
			return nil, errSessionEnded // still current and unmarked: only a revocation refuses the mark
		}
		tried = true
		marked, err := s.store.MarkGenerationSeen(ctx, e.sess.ID, gen)
		if err != nil {
			return nil, err
		}
		if marked {
			return s.cache.markSeen(e, gen), nil
		}
		// A refresh, another request or a revocation got there first: look again.
		if err := s.reload(ctx, &e, now); err != nil {
			return nil, err
		}
		reloaded = true
	}
}

// reload replaces *e with the session and user as stored now.
func (s *Service) reload(ctx context.Context, e **cacheEntry, now time.Time) error {
	sid := (*e).sess.ID
	s.cache.drop(sid)
	fresh, err := s.lookup(ctx, sid, now)
	if err != nil {
		return err
	}
	if fresh == nil || !fresh.sess.Active(now) {
		return errSessionEnded
	}
	if !fresh.user.Active {
		return errUserInactive
	}
	*e = fresh
	return nil
}

// Recheck reports whether the caller's session is still live, its user
// active and of the same sites and role, through the same cached lookup as
// Authenticate (so at most CacheTTL stale on an instance that did not make
// the change): long-lived requests such as event streams call it to end once
// their device is cut off or their scope has changed. It returns
// unauthorized or, when the store cannot answer, unavailable.
func (s *Service) Recheck(ctx context.Context, c *fieldsync.Caller) error {
	if c == nil {
		return errBadAccess
	}
	now := s.now()
	e, err := s.lookup(ctx, c.SessionID, now)
	if err != nil {
		return err
	}
	return judge(c, e, now)
}

// errScopeChanged ends a long-lived request whose caller's sites, role or
// department changed since it began: the client asks again, as the user is now.
var errScopeChanged = fieldsync.Errorf(fieldsync.EUnauthorized, "the user's sites or role changed; reconnect")

// judge is Recheck's verdict on c given its session's entry (nil: gone).
func judge(c *fieldsync.Caller, e *cacheEntry, now time.Time) error {
	switch {
	case e == nil || e.sess.UserID != c.UserID || e.sess.TenantID != c.TenantID || e.sess.DeviceID != c.DeviceID:
		return errBadAccess
	case !e.sess.Active(now):
		return errSessionEnded
	case !e.user.Active:
		return errUserInactive
	case e.user.Role != c.Role || e.user.Department != c.Department || !slices.Equal(e.user.SiteIDs, c.SiteIDs):
		return errScopeChanged
	}
	return nil
}

// recheckBatch bounds the ids of one read of RecheckAll.
const recheckBatch = 1000

// RecheckAll is Recheck for many callers at once, with the same cache: the
// sessions (and their users) not cached are read in one query per
// recheckBatch instead of two reads each — what an instance holding
// thousands of event streams needs at every heartbeat. errs[i] answers
// callers[i]; a failed read answers unavailable for the callers it was for.
func (s *Service) RecheckAll(ctx context.Context, callers []*fieldsync.Caller) []error {
	now := s.now()
	errs := make([]error, len(callers))
	entries := map[string]*cacheEntry{}
	failed := map[string]error{}
	var missing []string
	gen := map[string]uint64{}
	for _, c := range callers {
		if c == nil {
			continue
		}
		if _, seen := entries[c.SessionID]; seen {
			continue
		}
		e, g := s.cache.get(c.SessionID, now)
		entries[c.SessionID] = e
		if e == nil {
			missing = append(missing, c.SessionID)
			gen[c.SessionID] = g
		}
	}
	for len(missing) > 0 {
		batch := missing[:min(len(missing), recheckBatch)]
		missing = missing[len(batch):]
		if err := s.loadSessions(ctx, batch, gen, entries, now); err != nil {
			for _, sid := range batch {
				failed[sid] = err
			}
		}
	}
	for i, c := range callers {
		switch {
		case c == nil:
			errs[i] = errBadAccess
		case failed[c.SessionID] != nil:
			errs[i] = failed[c.SessionID]
		default:
			errs[i] = judge(c, entries[c.SessionID], now)
		}
	}
	return errs
}

// loadSessions reads the sessions sids and their users into entries (and
// the cache, unless invalidated since gen was read); a session or user that
// is gone stays nil.
func (s *Service) loadSessions(ctx context.Context, sids []string, gen map[string]uint64, entries map[string]*cacheEntry, now time.Time) error {
	sessions, err := s.store.SessionsByID(ctx, sids)
	if err != nil {
		return err
	}
	var uids []string
	for _, sess := range sessions {
		uids = append(uids, sess.UserID)
	}
	slices.Sort(uids)
	users, err := s.store.UsersByID(ctx, slices.Compact(uids))
	if err != nil {
		return err
	}
	byID := make(map[string]*fieldsync.User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	for _, sess := range sessions {
		u := byID[sess.UserID]
		if u == nil || u.TenantID != sess.TenantID {
			continue
		}
		e := &cacheEntry{sess: sess, user: u, loaded: now}
		s.cache.put(sess.ID, e, gen[sess.ID])
		entries[sess.ID] = e
	}
	return nil
}

// lookup returns the session and its user, from the cache when fresh; nil when either is gone.
func (s *Service) lookup(ctx context.Context, sid string, now time.Time) (*cacheEntry, error) {
	e, gen := s.cache.get(sid, now)
	if e != nil {
		return e, nil
	}
	sess, err := s.store.SessionByID(ctx, sid)
	if fieldsync.ErrorCode(err) == fieldsync.ENotFound {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(ctx, sess.UserID)
	if fieldsync.ErrorCode(err) == fieldsync.ENotFound || err == nil && u.TenantID != sess.TenantID {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	e = &cacheEntry{sess: sess, user: u, loaded: now}
	s.cache.put(sid, e, gen)
	return e, nil
}

// Me returns the caller's user as of this request.
func (s *Service) Me(ctx context.Context) (*fieldsync.User, error) {
	c := fieldsync.CallerFromContext(ctx)
	if c == nil {
		return nil, fieldsync.Errorf(fieldsync.EUnauthorized, "not authenticated")
	}
	e, err := s.lookup(ctx, c.SessionID, s.now())
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, errBadAccess
	}
	u := *e.user
	return &u, nil
}

// refreshToken is "<session id>.<32 random bytes, base64url>": the session id
// lets the server find the family of any token presented, so an old rotated
// token is recognised (reuse) rather than just unknown.
type refreshToken struct {
	sessionID, token string
}

func newRefreshToken() (refreshToken, string, error) {
	sid := uuid.NewString()
	t, h, err := newRefreshTokenFor(sid)
	return refreshToken{sessionID: sid, token: t}, h, err
}

func newRefreshTokenFor(sid string) (string, string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fieldsync.WrapError(fieldsync.EInternal, "no randomness", err)
	}
	t := sid + "." + base64.RawURLEncoding.EncodeToString(b)
	return t, hashToken(t), nil
}

func parseRefreshToken(t string) (string, bool) {
	sid, secret, ok := strings.Cut(t, ".")
	if !ok || len(t) > 128 || uuid.Validate(sid) != nil || len(secret) != 43 {
		return "", false
	}
	return sid, true
}

// hashToken hashes a high-entropy token; SHA-256 suffices (no password stretching needed).
func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

func equalHash(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func containsHash(hs []string, h string) bool {
	found := false
	for _, x := range hs {
		found = equalHash(x, h) || found
	}
	return found
}

// JWKS returns the public keys that verify access tokens now.
func (s *Service) JWKS() JWKS { return s.keys.JWKS(s.now()) }
