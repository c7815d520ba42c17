package api

import (
	"fieldsync"
	"fieldsync/auth"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
)

// Admin routes (role admin, own tenant only; the auth service checks both).
func (s *Server) registerAdminRoutes(r fiber.Router) {
	g := r.Group("/admin")
	g.Get("/users", s.handleAdminListUsers)
	g.Post("/users", s.handleAdminCreateUser)
	g.Patch("/users/:id", s.handleAdminUpdateUser)
	g.Get("/users/:id/devices", s.handleAdminUserDevices)
	g.Post("/users/:id/revoke", s.handleAdminRevokeUser)
	g.Post("/devices/:device_id/revoke", s.handleAdminRevokeDevice)
}

type usersResponse struct {
	Users []userView `json:"users"`
}

func (s *Server) handleAdminListUsers(c *fiber.Ctx) error {
	users, err := s.opts.Auth.AdminListUsers(c.UserContext())
	if err != nil {
		return err
	}
	out := usersResponse{Users: make([]userView, 0, len(users))}
	for _, u := range users {
		out.Users = append(out.Users, newUserView(u))
	}
	return c.JSON(out)
}

type createUserRequest struct {
	Username   string         `json:"username"`
	Password   string         `json:"password"`
	Name       string         `json:"name"`
	Role       fieldsync.Role `json:"role"`
	Department string         `json:"department"`
	SiteIDs    []string       `json:"site_ids"`
}

func (s *Server) handleAdminCreateUser(c *fiber.Ctx) error {
	var req createUserRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	u, err := s.opts.Auth.AdminCreateUser(c.UserContext(), auth.NewUser{
		Username: req.Username, Password: req.Password, Name: req.Name, Role: req.Role,
		Department: req.Department, SiteIDs: req.SiteIDs,
	})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(newUserView(u))
}

type updateUserRequest struct {
	Name       *string         `json:"name"`
	Role       *fieldsync.Role `json:"role"`
	Department *string         `json:"department"`
	SiteIDs    *[]string       `json:"site_ids"`
	Active     *bool           `json:"active"`
	Password   *string         `json:"password"`
}

func (s *Server) handleAdminUpdateUser(c *fiber.Ctx) error {
	var req updateUserRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req == (updateUserRequest{}) {
		return fieldsync.Errorf(fieldsync.EInvalid, "nothing to change")
	}
	u, err := s.opts.Auth.AdminUpdateUser(c.UserContext(), utils.CopyString(c.Params("id")), auth.UserPatch(req))
	if err != nil {
		return err
	}
	return c.JSON(newUserView(u))
}

type devicesResponse struct {
	Devices []fieldsync.Device `json:"devices"`
}

func (s *Server) handleAdminUserDevices(c *fiber.Ctx) error {
	ds, err := s.opts.Auth.AdminUserDevices(c.UserContext(), utils.CopyString(c.Params("id")))
	if err != nil {
		return err
	}
	return c.JSON(devicesResponse{Devices: ds})
}

type revokeResponse struct {
	Revoked int `json:"revoked"`
}

func (s *Server) handleAdminRevokeUser(c *fiber.Ctx) error {
	n, err := s.opts.Auth.AdminRevokeUser(c.UserContext(), utils.CopyString(c.Params("id")))
	if err != nil {
		return err
	}
	return c.JSON(revokeResponse{Revoked: n})
}

func (s *Server) handleAdminRevokeDevice(c *fiber.Ctx) error {
	n, err := s.opts.Auth.AdminRevokeDevice(c.UserContext(), utils.CopyString(c.Params("device_id")))
	if err != nil {
		return err
	}
	return c.JSON(revokeResponse{Revoked: n})
}
