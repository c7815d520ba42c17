package api

import (
	"context"
	"sort"
	"time"

	"fieldsync"

	"github.com/gofiber/fiber/v2"
)

func (s *Server) registerHealthRoutes(r fiber.Router) {
	r.Get("/healthz", s.handleHealthz)
	r.Get("/readyz", s.handleReadyz)
}

type healthResponse struct {
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
}

func (s *Server) handleHealthz(c *fiber.Ctx) error {
	return c.JSON(healthResponse{Status: "ok", Version: s.opts.Version})
}

type readyResponse struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// handleReadyz pings every dependency at once; 503 names the ones that failed.
func (s *Server) handleReadyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 3*time.Second)
	defer cancel()
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(s.opts.Ready))
	for name, p := range s.opts.Ready {
		go func() { results <- result{name, p.Ping(ctx)} }()
	}
	resp := readyResponse{Status: "ok", Checks: map[string]string{}}
	var down []string
	for range s.opts.Ready {
		r := <-results
		s.metrics.setDependency(r.name, r.err == nil)
		if r.err != nil {
			resp.Checks[r.name] = "down"
			down = append(down, r.name)
			s.log.Warn("readiness check failed", "dependency", r.name, "err", r.err)
		} else {
			resp.Checks[r.name] = "ok"
		}
	}
	if len(down) > 0 {
		sort.Strings(down)
		resp.Status = "unavailable"
		c.Set(fiber.HeaderRetryAfter, "5")
		c.Status(fiber.StatusServiceUnavailable)
		// A problem document that also lists each check, so an operator sees which one is down.
		p, _ := newProblem(fieldsync.Errorf(fieldsync.EUnavailable, "not ready: %v down", down), requestID(c))
		return c.JSON(readyProblem{problem: p, Checks: resp.Checks}, "application/problem+json")
	}
	return c.JSON(resp)
}

type readyProblem struct {
	problem
	Checks map[string]string `json:"checks"`
}
