package api

import (
	"strings"

	"fieldsync"
	"fieldsync/auth"

	"github.com/gofiber/fiber/v2"
)

// Auth routes: login, refresh, logout, me, and the public keys. Login and
// refresh are public; logout and me authenticate inline.
func (s *Server) registerAuthRoutes(r fiber.Router) {
	s.app.Get("/.well-known/jwks.json", s.handleJWKS)
	needAuth := requires("auth service", s.opts.Auth != nil)
	r.Post("/auth/login", needAuth, s.handleLogin)
	r.Post("/auth/refresh", needAuth, s.handleRefresh)
	r.Post("/auth/logout", s.authenticate, s.handleLogout)
	r.Get("/me", s.authenticate, s.handleMe)
}

// authenticate verifies the bearer access token and puts the caller, with
// the role and sites current at this request (see auth.Options.CacheTTL), in
// the request context; 401 otherwise.
func (s *Server) authenticate(c *fiber.Ctx) error {
	raw, ok := bearerToken(c.Get(fiber.HeaderAuthorization))
	if !ok {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="fieldsync"`)
		return fieldsync.Errorf(fieldsync.EUnauthorized, "missing or invalid access token")
	}
	if s.opts.Auth == nil {
		return fieldsync.Errorf(fieldsync.EUnavailable, "auth service not configured")
	}
	caller, err := s.opts.Auth.Authenticate(c.UserContext(), raw)
	if err != nil {
		if fieldsync.ErrorCode(err) == fieldsync.EUnauthorized {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="fieldsync", error="invalid_token"`)
		}
		return err
	}
	c.SetUserContext(fieldsync.NewContextWithCaller(c.UserContext(), caller))
	return c.Next()
}

// maxTokenLen bounds the bearer token read from a header.
const maxTokenLen = 4096

func bearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > maxTokenLen {
		return "", false
	}
	return tok, true
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	DeviceID string `json:"device_id"`
	Tenant   string `json:"tenant"`
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// userView is a user as the API shows it (never the password hash).
type userView struct {
	ID         string         `json:"id"`
	Tenant     string         `json:"tenant"`
	Username   string         `json:"username"`
	Name       string         `json:"name"`
	Role       fieldsync.Role `json:"role"`
	Department string         `json:"department,omitempty"`
	SiteIDs    []string       `json:"site_ids"`
	Active     bool           `json:"active"`
}

func newUserView(u *fieldsync.User) userView {
	sites := u.SiteIDs
	if sites == nil {
		sites = []string{}
	}
	return userView{ID: u.ID, Tenant: u.TenantID, Username: u.Username, Name: u.Name, Role: u.Role,
		Department: u.Department, SiteIDs: sites, Active: u.Active}
}

type tokenResponse struct {
	AccessToken      string   `json:"access_token"`
	TokenType        string   `json:"token_type"`
	ExpiresIn        int      `json:"expires_in"`
	RefreshToken     string   `json:"refresh_token"`
	RefreshExpiresAt string   `json:"refresh_expires_at"`
	DeviceID         string   `json:"device_id"`
	User             userView `json:"user"`
}

func (s *Server) sendTokens(c *fiber.Ctx, t *auth.Tokens) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(tokenResponse{
		AccessToken: t.AccessToken, TokenType: "Bearer", ExpiresIn: t.ExpiresIn,
		RefreshToken: t.RefreshToken, RefreshExpiresAt: t.Session.ExpiresAt.UTC().Format(timeFormat),
		DeviceID: t.Session.DeviceID, User: newUserView(t.User),
	})
}

const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func (s *Server) handleLogin(c *fiber.Ctx) error {
	var req loginRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	t, err := s.opts.Auth.Login(c.UserContext(), auth.LoginInput{
		Tenant: req.Tenant, Username: req.Username, Password: req.Password, DeviceID: req.DeviceID, Addr: s.clientAddress(c),
	})
	if err != nil {
		return err
	}
	return s.sendTokens(c, t)
}

func (s *Server) handleRefresh(c *fiber.Ctx) error {
	var req refreshRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.RefreshToken == "" {
		return fieldsync.FieldErrorf("refresh_token", "required")
	}
	t, err := s.opts.Auth.Refresh(c.UserContext(), req.RefreshToken)
	if err != nil {
		return err
	}
	return s.sendTokens(c, t)
}

func (s *Server) handleLogout(c *fiber.Ctx) error {
	if err := s.opts.Auth.Logout(c.UserContext()); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type meResponse struct {
	userView
	DeviceID  string `json:"device_id"`
	SessionID string `json:"session_id"`
}

func (s *Server) handleMe(c *fiber.Ctx) error {
	u, err := s.opts.Auth.Me(c.UserContext())
	if err != nil {
		return err
	}
	caller := fieldsync.CallerFromContext(c.UserContext())
	return c.JSON(meResponse{userView: newUserView(u), DeviceID: caller.DeviceID, SessionID: caller.SessionID})
}

func (s *Server) handleJWKS(c *fiber.Ctx) error {
	if s.opts.Auth == nil {
		return fieldsync.Errorf(fieldsync.EUnavailable, "auth service not configured")
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.JSON(s.opts.Auth.JWKS())
}
