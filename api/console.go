package api

import (
	"fieldsync/console"

	"github.com/gofiber/fiber/v2"
)

// registerConsoleRoutes serves the desk console. Its pages are hash routes
// (/console#/complaints/…), so one document serves them all.
func (s *Server) registerConsoleRoutes(r fiber.Router) {
	embeddedApp{files: console.Files(), headers: map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		// Photos come from presigned object-store URLs on another origin; all
		// else from here. No inline script or style.
		"Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob: http: https:; script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
	}}.register(r, "/console")
}
