package auth

import (
	"context"

	"fieldsync"
)

// DemoPassword is the password of every demo user.
const DemoPassword = "demo-pass-2026"

// DemoUsers are the users `fieldsync seed demo` creates in tenant demo.
var DemoUsers = []NewUser{
	{Username: "admin", Name: "Demo Admin", Role: fieldsync.RoleAdmin},
	{Username: "guard.a1", Name: "Guard A1", Role: fieldsync.RoleGuard, SiteIDs: []string{fieldsync.DemoSiteA}},
	{Username: "guard.a2", Name: "Guard A2", Role: fieldsync.RoleGuard, SiteIDs: []string{fieldsync.DemoSiteA}},
	{Username: "guard.b1", Name: "Guard B1", Role: fieldsync.RoleGuard, SiteIDs: []string{fieldsync.DemoSiteB}},
	{Username: "tech.a1", Name: "Technician A1", Role: fieldsync.RoleTechnician, Department: fieldsync.DeptEngineering, SiteIDs: []string{fieldsync.DemoSiteA}},
	{Username: "tech.a2", Name: "Technician A2", Role: fieldsync.RoleTechnician, Department: fieldsync.DeptEnvironment, SiteIDs: []string{fieldsync.DemoSiteA}},
	{Username: "tech.b1", Name: "Technician B1", Role: fieldsync.RoleTechnician, Department: fieldsync.DeptEngineering, SiteIDs: []string{fieldsync.DemoSiteB}},
	{Username: "cs.a1", Name: "Customer Service A1", Role: fieldsync.RoleCSAgent, SiteIDs: []string{fieldsync.DemoSiteA}},
	{Username: "super.a1", Name: "Supervisor A1", Role: fieldsync.RoleSupervisor, SiteIDs: []string{fieldsync.DemoSiteA}},
	{Username: "cs.b1", Name: "Customer Service B1", Role: fieldsync.RoleCSAgent, SiteIDs: []string{fieldsync.DemoSiteB}},
	{Username: "manager.a1", Name: "Manager A1", Role: fieldsync.RoleManager, SiteIDs: []string{fieldsync.DemoSiteA, fieldsync.DemoSiteB}},
}

// Seeded is one user a seed made or found.
type Seeded struct {
	User    *fieldsync.User
	Created bool
}

// SeedUsers creates users in tenant with password, skipping those that
// exist already (idempotent), and returns all of them in order.
func (s *Service) SeedUsers(ctx context.Context, tenant, password string, users []NewUser) ([]Seeded, error) {
	if err := validatePassword(password); err != nil {
		return nil, err
	}
	// One hash (with its own salt) serves every seeded user: seeding stays
	// fast, and each user's later password change gets a fresh salt.
	hash, err := s.opts.Password.Hash(password)
	if err != nil {
		return nil, fieldsync.WrapError(fieldsync.EInternal, "could not hash password", err)
	}
	out := make([]Seeded, 0, len(users))
	for _, in := range users {
		in.TenantID, in.Password = tenant, password
		u, err := s.createUser(ctx, in, hash)
		created := err == nil
		if fieldsync.ErrorCode(err) == fieldsync.EConflict {
			u, err = s.store.UserByUsername(ctx, tenant, normalizeUsername(in.Username))
		}
		if err != nil {
			return out, err
		}
		out = append(out, Seeded{User: u, Created: created})
	}
	return out, nil
}

// SeedDemo creates the demo tenant's users (idempotent) and, unless a
// default tenant is recorded already, records demo as the tenant of logins
// that name none.
func (s *Service) SeedDemo(ctx context.Context) ([]Seeded, error) {
	seeded, err := s.SeedUsers(ctx, fieldsync.DemoTenant, DemoPassword, DemoUsers)
	if err != nil {
		return seeded, err
	}
	return seeded, s.store.SetDefaultTenantIfUnset(ctx, fieldsync.DemoTenant)
}
