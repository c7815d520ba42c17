// Package api is fieldsync's HTTP edge on Fiber: routes, middleware, request
// and response types, and the one problem+json error renderer.
package api

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"fieldsync"
	"fieldsync/auth"
	"fieldsync/media"

	"github.com/gofiber/fiber/v2"
)

// Limits of the HTTP edge.
const (
	// MaxBodyBytes bounds every buffered JSON body (a push is at most 4 MiB).
	MaxBodyBytes = 4 << 20
	// ReadTimeout bounds reading a whole request, headers and body.
	ReadTimeout = 60 * time.Second
	// WriteTimeout bounds writing a response.
	WriteTimeout = 60 * time.Second
	// IdleTimeout closes idle keep-alive connections.
	IdleTimeout = 120 * time.Second
	// RequestTimeout bounds the work behind one request.
	RequestTimeout = 30 * time.Second
)

// Timeouts bound slow clients and slow work.
type Timeouts struct {
	Read, Write, Idle, Request time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	if t.Read <= 0 {
		t.Read = ReadTimeout
	}
	if t.Write <= 0 {
		t.Write = WriteTimeout
	}
	if t.Idle <= 0 {
		t.Idle = IdleTimeout
	}
	if t.Request <= 0 {
		t.Request = RequestTimeout
	}
	return t
}

// Pinger is a dependency /readyz checks.
type Pinger interface {
	// Ping returns nil when the dependency answers; unavailable otherwise.
	Ping(ctx context.Context) error
}

// Options wire a Server. Services left nil leave their routes answering 503.
type Options struct {
	Logger *slog.Logger
	// Ready are the dependencies /readyz pings, by name ("database", "object_store").
	Ready map[string]Pinger
	// Version is reported by /healthz.
	Version string
	// Auth verifies bearer tokens and serves login, refresh, logout, me and the admin API.
	Auth *auth.Service
	// Media serves photo evidence (/v1/media).
	Media *media.Service
	// PendingMedia, when set, counts media announced but not yet stored, for /metrics.
	PendingMedia func(ctx context.Context) (int64, error)
	// AddressLimit and DeviceLimit override DefaultAddressLimit and DefaultDeviceLimit
	// (a zero value keeps the default; a negative Rate turns the limit off).
	AddressLimit RateLimit
	DeviceLimit  RateLimit
	// Timeouts override ReadTimeout, WriteTimeout, IdleTimeout and RequestTimeout where non-zero.
	Timeouts Timeouts
	// Reports serves /v1/reports (customer-service reports).
	Reports fieldsync.ReportService
	// Sync is the sync engine behind /v1/sync.
	Sync fieldsync.SyncService
	// Audit serves /v1/audit (the audit trail of a record).
	Audit fieldsync.AuditService
	// Settings serves /v1/settings (the deadlines the company sets).
	Settings fieldsync.SettingsService
	// Units serves /v1/units (a unit's history) and the units import.
	Units fieldsync.UnitService
	// FirstRun, when set, serves POST /v1/setup: the first admin of a server
	// with no user yet (404 otherwise).
	FirstRun FirstRun
	// Now is the clock (tests inject one); nil means time.Now.
	Now func() time.Time
	// TrustedProxies are the load balancers and reverse proxies whose
	// X-Forwarded-For is believed (clientaddr.go); empty: none, every request
	// counts as coming from its socket's peer.
	TrustedProxies []netip.Prefix
	// EventHeartbeat is how often an idle event stream gets a heartbeat, and
	// looks at its session again (default DefaultEventHeartbeat, 15s).
	EventHeartbeat time.Duration
}

// Server is the fieldsync HTTP API.
type Server struct {
	app       *fiber.App
	opts      Options
	log       *slog.Logger
	byAddress *limiter
	byDevice  *limiter
	metrics   *metrics
	streams   *eventStreams
}

// New builds the server and registers every route.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Timeouts = opts.Timeouts.withDefaults()
	if opts.EventHeartbeat <= 0 {
		opts.EventHeartbeat = DefaultEventHeartbeat
	}
	s := &Server{opts: opts, log: opts.Logger, metrics: newMetrics(opts.PendingMedia)}
	s.streams = newEventStreams(s)
	s.byAddress = newLimiter(orDefault(opts.AddressLimit, DefaultAddressLimit), opts.Now)
	s.byDevice = newLimiter(orDefault(opts.DeviceLimit, DefaultDeviceLimit), opts.Now)
	s.app = fiber.New(fiber.Config{
		AppName:               "fieldsync",
		DisableStartupMessage: true,
		BodyLimit:             MaxBodyBytes,
		StreamRequestBody:     true,
		ReadTimeout:           opts.Timeouts.Read,
		WriteTimeout:          opts.Timeouts.Write,
		IdleTimeout:           opts.Timeouts.Idle,
		ErrorHandler:          s.handleError,
		ReadBufferSize:        16 << 10,
	})
	// Event streams own their connections once taken over (api/events.go).
	s.app.Server().KeepHijackedConns = true
	s.app.Use(s.recoverMiddleware, s.requestIDMiddleware, s.accessLogMiddleware)
	s.registerHealthRoutes(s.app)
	s.registerDocsRoutes(s.app)
	s.registerConsoleRoutes(s.app)
	s.registerMetricsRoutes(s.app)
	v1 := s.app.Group("/v1", s.addressLimit)
	s.registerAuthRoutes(v1)
	s.registerSetupRoutes(v1)
	authed := v1.Group("", s.authenticate, s.deviceLimit)
	s.registerAdminRoutes(authed)
	s.registerSyncRoutes(authed)
	s.registerMediaRoutes(authed)
	s.registerReportRoutes(authed)
	s.registerReportExportRoutes(authed)
	s.registerStaffRoutes(authed)
	s.registerAuditRoutes(authed)
	s.registerSettingsRoutes(authed)
	s.registerUnitRoutes(authed)
	return s
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting, ends the event streams (phones reconnect to
// another instance), and waits for in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.streams.shutdown()
	return s.app.ShutdownWithContext(ctx)
}

// Test sends req through the app in-process (tests).
func (s *Server) Test(req *http.Request) (*http.Response, error) { return s.app.Test(req, -1) }

// Routes lists "METHOD path" for every registered route (the contract test compares them with openapi/).
func (s *Server) Routes() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range s.app.GetRoutes(true) {
		if r.Method == fiber.MethodHead || r.Path == "/" && r.Method == fiber.MethodGet && len(r.Handlers) == 0 {
			continue
		}
		if r.Path == "/" || r.Path == "" {
			continue // middleware mounted with Use
		}
		k := r.Method + " " + r.Path
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// requires answers 503 for a route group whose service this server was built
// without (a partial wiring in tests or tools), instead of a nil dereference.
func requires(name string, wired bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !wired {
			return fieldsync.Errorf(fieldsync.EUnavailable, "%s not configured", name)
		}
		return c.Next()
	}
}

func orDefault(l, def RateLimit) RateLimit {
	if l.Rate == 0 {
		return def
	}
	return l
}
