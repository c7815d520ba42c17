package api

import (
	"bytes"
	"strings"

	"fieldsync"

	"github.com/gofiber/fiber/v2"
)

// Units: a unit's history (the desk of its site) and the CSV import of
// units and households (admins); the unit service checks.
func (s *Server) registerUnitRoutes(r fiber.Router) {
	wired := requires("units", s.opts.Units != nil)
	r.Get("/units/:id/history", wired, s.handleUnitHistory)
	r.Post("/admin/import/units", wired, s.handleImportUnits)
}

func (s *Server) handleUnitHistory(c *fiber.Ctx) error {
	h, err := s.opts.Units.UnitHistory(c.UserContext(), strings.Clone(c.Params("id")))
	if err != nil {
		return err
	}
	return c.JSON(h)
}

func (s *Server) handleImportUnits(c *fiber.Ctx) error {
	ct := strings.ToLower(c.Get(fiber.HeaderContentType))
	if !strings.HasPrefix(ct, "text/csv") {
		return fieldsync.Errorf(fieldsync.EInvalid, "content type must be text/csv")
	}
	b, err := readBody(c, MaxBodyBytes)
	if err != nil {
		return err
	}
	caller := fieldsync.CallerFromContext(c.UserContext())
	if caller == nil {
		return fieldsync.Errorf(fieldsync.EUnauthorized, "no caller")
	}
	res, err := s.opts.Units.ImportUnits(c.UserContext(), caller.TenantID, bytes.NewReader(bytes.Clone(b)))
	if err != nil {
		return err
	}
	return c.JSON(res)
}
