// Package api is fieldsync's HTTP edge on Fiber: routes, middleware, request
// and response types, and the one problem+json error renderer.
package api

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"fieldsync/auth"

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
}

// Server is the fieldsync HTTP API.
type Server struct {
	app  *fiber.App
	opts Options
	log  *slog.Logger
}

// New builds the server and registers every route.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, log: opts.Logger}
	s.app = fiber.New(fiber.Config{
		AppName:               "fieldsync",
		DisableStartupMessage: true,
		BodyLimit:             MaxBodyBytes,
		StreamRequestBody:     true,
		ReadTimeout:           ReadTimeout,
		WriteTimeout:          WriteTimeout,
		IdleTimeout:           IdleTimeout,
		ErrorHandler:          s.handleError,
		ReadBufferSize:        16 << 10,
	})
	s.app.Use(s.recoverMiddleware, s.requestIDMiddleware, s.accessLogMiddleware)
	s.registerHealthRoutes(s.app)
	s.registerDocsRoutes(s.app)
	v1 := s.app.Group("/v1")
	s.registerAuthRoutes(v1)
	authed := v1.Group("", s.authenticate)
	s.registerAdminRoutes(authed)
	s.registerSyncRoutes(authed)
	s.registerMediaRoutes(authed)
	s.registerReportRoutes(authed)
	return s
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting, waits for in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.app.ShutdownWithContext(ctx) }

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
