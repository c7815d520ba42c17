package api

import (
	"strings"

	"fieldsync/auth"

	"github.com/gofiber/fiber/v2"
)

// Staff directory: the desk (cs_agent, supervisor, manager, admin) lists the
// active staff of its sites, to assign orders and escalate complaints.
func (s *Server) registerStaffRoutes(r fiber.Router) {
	r.Get("/staff", s.handleStaff)
}

type staffResponse struct {
	Staff []auth.StaffMember `json:"staff"`
}

func (s *Server) handleStaff(c *fiber.Ctx) error {
	staff, err := s.opts.Auth.Directory(c.UserContext(), strings.Clone(c.Query("site_id")))
	if err != nil {
		return err
	}
	return c.JSON(staffResponse{Staff: staff})
}
