package api

import "github.com/gofiber/fiber/v2"

// Owned by the media issue.

func (s *Server) registerMediaRoutes(r fiber.Router) {}
