package api

import (
	"fieldsync"

	"github.com/gofiber/fiber/v2"
)

// Owned by the auth issue: login, refresh, logout, me, JWKS, and the middleware.

func (s *Server) registerAuthRoutes(r fiber.Router) {}

func (s *Server) registerAdminRoutes(r fiber.Router) {}

// authenticate puts the caller in the request context or refuses with 401.
func (s *Server) authenticate(c *fiber.Ctx) error {
	return fieldsync.Errorf(fieldsync.EUnauthorized, "missing or invalid access token")
}
