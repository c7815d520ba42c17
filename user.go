package fieldsync

import (
	"context"
	"slices"
	"time"
)

// Role is what a user does in the field and therefore what they may see.
type Role string

// Roles, from PRODUCT.md.
const (
	RoleGuard      Role = "guard"
	RoleTechnician Role = "technician"
	RoleCSAgent    Role = "cs_agent"
	RoleSupervisor Role = "supervisor"
	// RoleManager is the upper department: it receives level-2 escalations of
	// its sites, sees and acts on everything of them as the desk does, and
	// reads the reports.
	RoleManager Role = "manager"
	RoleAdmin   Role = "admin"
)

// Roles lists every role in a stable order.
var Roles = []Role{RoleGuard, RoleTechnician, RoleCSAgent, RoleSupervisor, RoleManager, RoleAdmin}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Departments a technician may belong to.
const (
	DeptEngineering = "engineering"
	DeptEnvironment = "environment"
)

// User is a member of a tenant's staff.
type User struct {
	ID           string    `json:"id" bson:"_id"`
	TenantID     string    `json:"tenant" bson:"tenant"`
	Username     string    `json:"username" bson:"username"`
	Name         string    `json:"name" bson:"name"`
	Role         Role      `json:"role" bson:"role"`
	Department   string    `json:"department,omitempty" bson:"department,omitempty"`
	SiteIDs      []string  `json:"site_ids" bson:"site_ids"`
	Active       bool      `json:"active" bson:"active"`
	PasswordHash string    `json:"-" bson:"password_hash"`
	CreatedAt    time.Time `json:"created_at" bson:"created_at"`
	UpdatedAt    time.Time `json:"updated_at" bson:"updated_at"`
}

// Caller is the authenticated principal of one request: who, from which device,
// with the role and sites current at the time of the request (not of the token).
type Caller struct {
	UserID     string
	Name       string
	TenantID   string
	DeviceID   string
	SessionID  string
	Role       Role
	Department string
	SiteIDs    []string
}

// HasSite reports whether the caller is assigned to site (admins hold every site of their tenant).
func (c *Caller) HasSite(site string) bool {
	if c.Role == RoleAdmin {
		return true
	}
	return slices.Contains(c.SiteIDs, site)
}

type contextKey int

const callerContextKey contextKey = iota

// NewContextWithCaller returns a copy of ctx that carries c.
func NewContextWithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerContextKey, c)
}

// CallerFromContext returns the caller carried by ctx, or nil.
func CallerFromContext(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerContextKey).(*Caller)
	return c
}

// UserFinder looks users up within one tenant; the auth service implements it
// (the sync engine checks an order's assignee with it).
type UserFinder interface {
	// User returns user id of tenant; not_found for an unknown id or another tenant's user.
	User(ctx context.Context, tenant, id string) (*User, error)
	// Staff returns the active users of tenant assigned to site, ordered by
	// name (admins, who hold every site, are not listed).
	Staff(ctx context.Context, tenant, site string) ([]*User, error)
}

// IsDesk reports whether r works at the customer-service desk or above it:
// the roles that own priority, department, deadlines and assignment.
func (r Role) IsDesk() bool {
	return r == RoleCSAgent || r == RoleSupervisor || r == RoleManager || r == RoleAdmin
}

// IsSupervisory reports whether r is a supervisor or above (level-2
// escalation, reopening a closed complaint).
func (r Role) IsSupervisory() bool {
	return r == RoleSupervisor || r == RoleManager || r == RoleAdmin
}
