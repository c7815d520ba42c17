package api

import (
	"fieldsync/openapi"

	"github.com/gofiber/fiber/v2"
)

func (s *Server) registerDocsRoutes(r fiber.Router) {
	r.Get("/openapi.yaml", s.handleOpenAPI)
	r.Get("/docs", s.handleDocs)
}

func (s *Server) handleOpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/yaml")
	return c.Send(openapi.YAML())
}

func (s *Server) handleDocs(c *fiber.Ctx) error {
	page, err := openapi.HTML()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(page)
}
