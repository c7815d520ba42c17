package api

import (
	"io/fs"
	"mime"
	"path"

	"fieldsync"
	"fieldsync/console"

	"github.com/gofiber/fiber/v2"
)

func (s *Server) registerConsoleRoutes(r fiber.Router) {
	r.Get("/console", s.handleConsole)
	r.Get("/console/assets/:name", s.handleConsoleAsset)
}

// handleConsole serves the desk console. Its pages are hash routes
// (/console#/complaints/…), so this one document serves them all.
func (s *Server) handleConsole(c *fiber.Ctx) error {
	return sendConsoleFile(c, "index.html")
}

func (s *Server) handleConsoleAsset(c *fiber.Ctx) error {
	name := c.Params("name")
	if name == "index.html" || name == "STAMP" {
		return &fieldsync.Error{Code: fieldsync.ENotFound, Message: "no such asset"}
	}
	return sendConsoleFile(c, name)
}

func sendConsoleFile(c *fiber.Ctx, name string) error {
	b, err := fs.ReadFile(console.Files(), name)
	if err != nil {
		return &fieldsync.Error{Code: fieldsync.ENotFound, Message: "no such asset"}
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	c.Set(fiber.HeaderContentType, ct)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	// Photos come from presigned object-store URLs on another origin; all
	// else from here. No inline script or style.
	c.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob: http: https:; script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	return c.Send(b)
}
