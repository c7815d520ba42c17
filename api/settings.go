package api

import (
	"strings"

	"fieldsync"

	"github.com/gofiber/fiber/v2"
)

// The deadlines the company sets, for the tenant or one site (?site_id=):
// the desk and admins read them, admins change them (the settings service checks).
func (s *Server) registerSettingsRoutes(r fiber.Router) {
	g := r.Group("/settings", requires("settings", s.opts.Settings != nil))
	g.Get("/deadlines", s.handleGetDeadlines)
	g.Put("/deadlines", s.handlePutDeadlines)
}

func settingsSite(c *fiber.Ctx) (string, error) {
	site := strings.Clone(c.Query("site_id"))
	if len(site) > 64 {
		return "", fieldsync.FieldErrorf("site_id", "at most 64 characters")
	}
	return site, nil
}

func (s *Server) handleGetDeadlines(c *fiber.Ctx) error {
	site, err := settingsSite(c)
	if err != nil {
		return err
	}
	v, err := s.opts.Settings.DeadlineSettings(c.UserContext(), site)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *Server) handlePutDeadlines(c *fiber.Ctx) error {
	site, err := settingsSite(c)
	if err != nil {
		return err
	}
	var req fieldsync.DeadlineSettings
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	v, err := s.opts.Settings.SetDeadlineSettings(c.UserContext(), site, req)
	if err != nil {
		return err
	}
	return c.JSON(v)
}
