package api

import (
	"context"
	"net"

	"fieldsync"

	"github.com/gofiber/fiber/v2"
)

// FirstAdmin is the first tenant's first admin, created by the first-run setup.
type FirstAdmin struct {
	Tenant   string `json:"tenant"`
	Username string `json:"username"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

// FirstRun creates the first admin of a server that has no user yet, once,
// with the one-time token the server logged at start.
type FirstRun interface {
	// CreateFirstAdmin creates the admin and its tenant. Errors: forbidden
	// (wrong, spent or expired token), conflict (a user exists already),
	// invalid_input naming the field.
	CreateFirstAdmin(ctx context.Context, token string, in FirstAdmin) (*fieldsync.User, error)
}

type setupRequest struct {
	Token string `json:"token"`
	FirstAdmin
}

func (s *Server) registerSetupRoutes(r fiber.Router) {
	r.Post("/setup", s.handleSetup)
}

// handleSetup answers only callers on the server's own machine: the URL with
// the token is logged there, and nobody elsewhere should race the operator.
func (s *Server) handleSetup(c *fiber.Ctx) error {
	if s.opts.FirstRun == nil {
		return &fieldsync.Error{Code: fieldsync.ENotFound, Message: "no first-run setup is open"}
	}
	if ip := net.IP(c.Context().RemoteIP()); !ip.IsLoopback() {
		return &fieldsync.Error{Code: fieldsync.EForbidden, Message: "the first-run setup answers only on the server's own machine (loopback)"}
	}
	var req setupRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	u, err := s.opts.FirstRun.CreateFirstAdmin(c.UserContext(), req.Token, req.FirstAdmin)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(newUserView(u))
}
