package api

import "github.com/gofiber/fiber/v2"

// Owned by the sync engine issue: push, pull, bootstrap, events, config.

func (s *Server) registerSyncRoutes(r fiber.Router) {}
