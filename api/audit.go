package api

import (
	"strings"

	"fieldsync"

	"github.com/gofiber/fiber/v2"
)

// The audit trail of a record (supervisors, managers and admins of its
// site; the audit service checks). Read-only: nothing in the API writes it.
func (s *Server) registerAuditRoutes(r fiber.Router) {
	g := r.Group("/audit", requires("audit", s.opts.Audit != nil))
	g.Get("/:collection/:id", s.handleRecordAudit)
}

type auditResponse struct {
	Collection string                 `json:"collection"`
	ID         string                 `json:"id"`
	Entries    []fieldsync.AuditEntry `json:"entries"`
}

func (s *Server) handleRecordAudit(c *fiber.Ctx) error {
	coll, id := strings.Clone(c.Params("collection")), strings.Clone(c.Params("id"))
	entries, err := s.opts.Audit.RecordAudit(c.UserContext(), coll, id)
	if err != nil {
		return err
	}
	return c.JSON(auditResponse{Collection: coll, ID: id, Entries: entries})
}
