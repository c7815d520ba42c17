package api

import (
	"io/fs"
	"mime"
	"path"

	"fieldsync"
	"fieldsync/openapi"

	"github.com/gofiber/fiber/v2"
)

func (s *Server) registerDocsRoutes(r fiber.Router) {
	r.Get("/openapi.yaml", s.handleOpenAPI)
	r.Get("/docs", s.handleDocs)
	r.Get("/docs/assets/:name", s.handleDocsAsset)
}

func (s *Server) handleOpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/yaml")
	return c.Send(openapi.YAML())
}

// handleDocs serves the contract rendered by Swagger UI, whose assets are
// embedded in the binary: no CDN, so it works on air-gapped sites.
func (s *Server) handleDocs(c *fiber.Ctx) error {
	return sendDocsFile(c, "index.html")
}

func (s *Server) handleDocsAsset(c *fiber.Ctx) error {
	name := c.Params("name")
	if name == "index.html" || name == "STAMP" {
		return &fieldsync.Error{Code: fieldsync.ENotFound, Message: "no such asset"}
	}
	return sendDocsFile(c, name)
}

func sendDocsFile(c *fiber.Ctx, name string) error {
	b, err := fs.ReadFile(openapi.Docs(), name)
	if err != nil {
		return &fieldsync.Error{Code: fieldsync.ENotFound, Message: "no such asset"}
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	c.Set(fiber.HeaderContentType, ct)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	return c.Send(b)
}
