package api

import "github.com/gofiber/fiber/v2"

// Owned by the field-domain issue: /v1/reports/*.

func (s *Server) registerReportRoutes(r fiber.Router) {}
