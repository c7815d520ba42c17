// Package client is a typed Go client of the fieldsync wire contract
// (shared SYNC-PROTOCOL.md, openapi/openapi.yaml): login and refresh, push
// with retries, paged pull, the streaming bootstrap, sync events and media.
// It speaks HTTP only, so the simulator, the benchmark and the fault tests
// exercise the server exactly as a phone does.
//
// A Client is one device: it holds that device's tokens and refreshes them
// when they expire. It is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultMaxRetries = 8
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
	// MaxRetryAfter caps how long a Retry-After header may make the client wait.
	MaxRetryAfter = 60 * time.Second
	// maxErrorBody bounds how much of an error answer is read.
	maxErrorBody = 64 << 10
)

// Attempt describes one HTTP exchange, for Options.Observe.
type Attempt struct {
	// Op is the client operation: login, refresh, push, pull, bootstrap, config, media, events.
	Op      string
	Status  int // 0 when no answer arrived
	Code    string
	Latency time.Duration
	Err     error
}

// Options configure New. The zero value means defaults.
type Options struct {
	// HTTPClient sends the requests (default: a client with keep-alive and no overall timeout;
	// bound calls with their context).
	HTTPClient *http.Client
	// MaxRetries bounds how often a retryable call is retried after a 5xx, a 429 or a
	// transport error (default DefaultMaxRetries; negative means never).
	MaxRetries int
	// MinBackoff and MaxBackoff bound the exponential backoff when the server sends no Retry-After.
	MinBackoff, MaxBackoff time.Duration
	// Observe, when set, sees every HTTP exchange (the simulator's latency and error figures).
	Observe func(Attempt)
	// UserAgent is sent with every request.
	UserAgent string
}

// Client is one device talking to one fieldsync server.
type Client struct {
	base *url.URL
	http *http.Client
	opts Options

	mu      sync.Mutex
	creds   *Credentials
	session Session
	expires time.Time
}

var defaultTransport = &http.Transport{
	Proxy:               nil,
	DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	MaxIdleConns:        256,
	MaxIdleConnsPerHost: 64,
	IdleConnTimeout:     90 * time.Second,
}

// New returns a client of the server at baseURL (scheme://host:port, without /v1).
func New(baseURL string, opts Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http(s)://host:port", baseURL)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Transport: defaultTransport}
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = DefaultMaxRetries
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "fieldsync-client"
	}
	return &Client{base: u, http: opts.HTTPClient, opts: opts}, nil
}

// DeviceID is the device this client logged in as.
func (c *Client) DeviceID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.creds == nil {
		return ""
	}
	return c.creds.DeviceID
}

// User is the logged-in user.
func (c *Client) User() User {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session.User
}

// Login logs the device in and keeps the credentials, so the client can log in
// again should its refresh token be revoked or expire.
func (c *Client) Login(ctx context.Context, cr Credentials) (*Session, error) {
	var s Session
	err := c.retry(ctx, "login", func() (*http.Request, error) {
		return c.newJSONRequest(ctx, http.MethodPost, "/v1/auth/login", nil, cr)
	}, false, &s)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.creds = &cr
	c.setSessionLocked(s)
	c.mu.Unlock()
	return &s, nil
}

// Refresh trades the refresh token for a new pair.
func (c *Client) Refresh(ctx context.Context) error {
	c.mu.Lock()
	rt := c.session.RefreshToken
	c.mu.Unlock()
	if rt == "" {
		return errors.New("client: not logged in")
	}
	var s Session
	err := c.retry(ctx, "refresh", func() (*http.Request, error) {
		return c.newJSONRequest(ctx, http.MethodPost, "/v1/auth/refresh", nil, map[string]string{"refresh_token": rt})
	}, false, &s)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.setSessionLocked(s)
	c.mu.Unlock()
	return nil
}

func (c *Client) setSessionLocked(s Session) {
	if s.User.ID == "" {
		s.User = c.session.User
	}
	c.session = s
	c.expires = time.Now().Add(time.Duration(s.ExpiresIn) * time.Second)
}

// Logout revokes this device's session.
func (c *Client) Logout(ctx context.Context) error {
	return c.retry(ctx, "logout", func() (*http.Request, error) {
		return c.newJSONRequest(ctx, http.MethodPost, "/v1/auth/logout", nil, nil)
	}, true, nil)
}

// Push sends one batch of mutations and returns one result per mutation.
// A 5xx, a 429 or a lost answer is retried with the same batch (the server
// suppresses the mutations it already applied); Retry-After is honoured.
func (c *Client) Push(ctx context.Context, muts []Mutation) ([]Result, error) {
	body, err := json.Marshal(struct {
		DeviceID  string     `json:"device_id"`
		Mutations []Mutation `json:"mutations"`
	}{c.DeviceID(), muts})
	if err != nil {
		return nil, fmt.Errorf("client: push: %w", err)
	}
	var out struct {
		Results []Result `json:"results"`
	}
	err = c.retry(ctx, "push", func() (*http.Request, error) {
		return c.newRequest(ctx, http.MethodPost, "/v1/sync/push", nil, "application/json", bytes.NewReader(body))
	}, true, &out)
	if err != nil {
		return nil, err
	}
	if len(out.Results) != len(muts) {
		return out.Results, fmt.Errorf("client: push: %d results for %d mutations", len(out.Results), len(muts))
	}
	return out.Results, nil
}

// Pull fetches one page of changes after cursor ("" = bootstrap). limit 0 means the server's default.
func (c *Client) Pull(ctx context.Context, cursor string, limit int) (*Page, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var p Page
	err := c.retry(ctx, "pull", func() (*http.Request, error) {
		return c.newRequest(ctx, http.MethodGet, "/v1/sync/pull", q, "", nil)
	}, true, &p)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// PullAll pulls pages from cursor until has_more is false, handing each change
// to fn, and returns the final cursor and the number of pages.
func (c *Client) PullAll(ctx context.Context, cursor string, limit int, fn func(Change) error) (string, int, error) {
	pages := 0
	for {
		p, err := c.Pull(ctx, cursor, limit)
		if err != nil {
			return cursor, pages, err
		}
		pages++
		for _, ch := range p.Changes {
			if err := fn(ch); err != nil {
				return cursor, pages, err
			}
		}
		cursor = p.Cursor
		if !p.HasMore {
			return cursor, pages, nil
		}
		if p.HeldBack && len(p.Changes) == 0 {
			// Nothing to hand out until an earlier write lands: wait a little
			// instead of asking again at once.
			select {
			case <-ctx.Done():
				return cursor, pages, ctx.Err()
			case <-time.After(heldBackPause):
			}
		}
	}
}

// heldBackPause is how long PullAll waits after an empty held-back page.
const heldBackPause = 200 * time.Millisecond

// Config fetches GET /v1/sync/config as a generic document (limits, retention,
// schema versions, collections).
func (c *Client) Config(ctx context.Context) (map[string]any, error) {
	var out map[string]any
	err := c.retry(ctx, "config", func() (*http.Request, error) {
		return c.newRequest(ctx, http.MethodGet, "/v1/sync/config", nil, "", nil)
	}, true, &out)
	return out, err
}

// retry runs one call: it builds the request with mk, sends it, refreshes the
// token once on a 401 when authed, retries 5xx/429/transport failures with
// backoff, and decodes a 2xx body into out (when out is not nil).
func (c *Client) retry(ctx context.Context, op string, mk func() (*http.Request, error), authed bool, out any) error {
	refreshed := false
	for attempt := 0; ; attempt++ {
		if authed {
			if err := c.ensureToken(ctx); err != nil {
				return err
			}
		}
		req, err := mk()
		if err != nil {
			return err
		}
		if authed {
			c.authorize(req)
		}
		start := time.Now()
		resp, err := c.http.Do(req)
		if err != nil {
			c.observe(Attempt{Op: op, Latency: time.Since(start), Err: err})
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if attempt >= c.opts.MaxRetries || c.opts.MaxRetries < 0 {
				return fmt.Errorf("client: %s: %w", op, err)
			}
			if err := c.sleep(ctx, c.backoff(attempt)); err != nil {
				return err
			}
			continue
		}
		if resp.StatusCode < 300 {
			if st, ok := out.(*streamTaker); ok {
				c.observe(Attempt{Op: op, Status: resp.StatusCode, Latency: time.Since(start)})
				*st.resp = resp
				return nil
			}
			var derr error
			if out != nil {
				derr = json.NewDecoder(resp.Body).Decode(out)
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
			resp.Body.Close()
			c.observe(Attempt{Op: op, Status: resp.StatusCode, Latency: time.Since(start), Err: derr})
			if derr != nil {
				// A cut answer is a lost answer: retry like a transport error.
				if attempt < c.opts.MaxRetries && c.opts.MaxRetries >= 0 && ctx.Err() == nil {
					if err := c.sleep(ctx, c.backoff(attempt)); err != nil {
						return err
					}
					continue
				}
				return fmt.Errorf("client: %s: decode answer: %w", op, derr)
			}
			return nil
		}
		p := readProblem(resp)
		c.observe(Attempt{Op: op, Status: p.Status, Code: p.Code, Latency: time.Since(start), Err: p})
		switch {
		case authed && p.Status == http.StatusUnauthorized && !refreshed:
			refreshed = true
			if err := c.reauth(ctx); err != nil {
				return err
			}
			continue
		case p.Temporary() && attempt < c.opts.MaxRetries && c.opts.MaxRetries >= 0:
			d := p.RetryAfter
			if d <= 0 {
				d = c.backoff(attempt)
			}
			if err := c.sleep(ctx, d); err != nil {
				return err
			}
			continue
		}
		return p
	}
}

// ensureToken refreshes an access token that expires within the next few seconds.
func (c *Client) ensureToken(ctx context.Context) error {
	c.mu.Lock()
	noToken := c.session.AccessToken == ""
	stale := !noToken && c.session.ExpiresIn > 0 && time.Until(c.expires) < 5*time.Second
	c.mu.Unlock()
	if noToken {
		return errors.New("client: not logged in")
	}
	if stale {
		return c.reauth(ctx)
	}
	return nil
}

// reauth refreshes the session, or logs in again when the refresh token is refused.
func (c *Client) reauth(ctx context.Context) error {
	err := c.Refresh(ctx)
	if err == nil {
		return nil
	}
	var p *Problem
	c.mu.Lock()
	creds := c.creds
	c.mu.Unlock()
	if errors.As(err, &p) && p.Status == http.StatusUnauthorized && creds != nil {
		_, err = c.Login(ctx, *creds)
	}
	return err
}

func (c *Client) authorize(req *http.Request) {
	c.mu.Lock()
	tok := c.session.AccessToken
	c.mu.Unlock()
	req.Header.Set("Authorization", "Bearer "+tok)
}

func (c *Client) observe(a Attempt) {
	if c.opts.Observe != nil {
		c.opts.Observe(a)
	}
}

// backoff is full-jitter exponential backoff.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.opts.MinBackoff << min(attempt, 16)
	if d > c.opts.MaxBackoff || d <= 0 {
		d = c.opts.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Client) newJSONRequest(ctx context.Context, method, path string, q url.Values, body any) (*http.Request, error) {
	if body == nil {
		return c.newRequest(ctx, method, path, q, "", nil)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return c.newRequest(ctx, method, path, q, "application/json", bytes.NewReader(b))
}

func (c *Client) newRequest(ctx context.Context, method, path string, q url.Values, contentType string, body io.Reader) (*http.Request, error) {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	if q != nil {
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.opts.UserAgent)
	return req, nil
}

// readProblem turns a non-2xx answer into a *Problem, whatever its body.
func readProblem(resp *http.Response) *Problem {
	defer resp.Body.Close()
	p := &Problem{}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_ = json.Unmarshal(b, p)
	p.Status = resp.StatusCode
	if p.Code == "" {
		p.Code = codeOfStatus(resp.StatusCode)
	}
	if p.Detail == "" && p.Title == "" {
		p.Detail = http.StatusText(resp.StatusCode)
	}
	p.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
	return p
}

func codeOfStatus(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "rate_limited"
	case status == http.StatusUnauthorized:
		return "unauthorized"
	case status == http.StatusForbidden:
		return "forbidden"
	case status == http.StatusNotFound:
		return "not_found"
	case status == http.StatusRequestEntityTooLarge:
		return "payload_too_large"
	case status >= 500:
		return "unavailable"
	}
	return "http_" + strconv.Itoa(status)
}

// parseRetryAfter reads delay-seconds or an HTTP date, capped at MaxRetryAfter.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	return max(0, min(d, MaxRetryAfter))
}

// NewUser is an admin's request to create a user (POST /v1/admin/users).
type NewUser struct {
	Username   string   `json:"username"`
	Password   string   `json:"password"`
	Name       string   `json:"name"`
	Role       string   `json:"role"`
	Department string   `json:"department,omitempty"`
	SiteIDs    []string `json:"site_ids"`
}

// CreateUser creates a user; the caller must be an admin.
func (c *Client) CreateUser(ctx context.Context, u NewUser) (*User, error) {
	var out User
	err := c.retry(ctx, "admin", func() (*http.Request, error) {
		return c.newJSONRequest(ctx, http.MethodPost, "/v1/admin/users", nil, u)
	}, true, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}
