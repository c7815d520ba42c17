package api

import (
	"fieldsync/openapi"

	"github.com/gofiber/fiber/v2"
)

func (s *Server) registerDocsRoutes(r fiber.Router) {
	r.Get("/openapi.yaml", s.handleOpenAPI)
	// The contract rendered by Swagger UI, whose assets are embedded.
	embeddedApp{files: openapi.Docs()}.register(r, "/docs")
}

func (s *Server) handleOpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/yaml")
	return c.Send(openapi.YAML())
}
