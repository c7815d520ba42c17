package auth

import (
	"context"
	"slices"
	"strings"

	"fieldsync"
)

// Staff returns the active users of tenant assigned to site, ordered by name
// (admins, who hold every site without being assigned, are not listed). It
// implements fieldsync.UserFinder for the sync engine (dispatch, escalation).
func (s *Service) Staff(ctx context.Context, tenant, site string) ([]*fieldsync.User, error) {
	users, err := s.store.ListUsers(ctx, tenant)
	if err != nil {
		return nil, err
	}
	out := make([]*fieldsync.User, 0, len(users))
	for _, u := range users {
		if u.Active && u.TenantID == tenant && u.Role != fieldsync.RoleAdmin && slices.Contains(u.SiteIDs, site) {
			c := *u
			c.PasswordHash = ""
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *fieldsync.User) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// StaffMember is what the staff directory shows of a colleague.
type StaffMember struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Role       fieldsync.Role `json:"role"`
	Department string         `json:"department,omitempty"`
	// SiteIDs are the member's sites among the caller's.
	SiteIDs []string `json:"site_ids"`
}

// Directory lists the active staff of the caller's sites (or of site, when
// given) for the desk, which assigns orders and escalates complaints to them:
// forbidden for other roles, and for a site the caller does not hold. Only
// the caller's sites are shown of each member.
func (s *Service) Directory(ctx context.Context, site string) ([]StaffMember, error) {
	c := fieldsync.CallerFromContext(ctx)
	if !fieldsync.CanListStaff(c) {
		return nil, fieldsync.Errorf(fieldsync.EForbidden, "the staff directory is for customer service, supervisors and managers")
	}
	if site != "" && !c.HasSite(site) {
		return nil, &fieldsync.Error{Code: fieldsync.EForbidden, Field: "site_id", Message: "not one of your sites"}
	}
	users, err := s.store.ListUsers(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	out := []StaffMember{}
	for _, u := range users {
		if !u.Active || u.TenantID != c.TenantID || u.Role == fieldsync.RoleAdmin {
			continue
		}
		var sites []string
		for _, id := range u.SiteIDs {
			if (site == "" || id == site) && c.HasSite(id) {
				sites = append(sites, id)
			}
		}
		if len(sites) > 0 {
			out = append(out, StaffMember{ID: u.ID, Name: u.Name, Role: u.Role, Department: u.Department, SiteIDs: sites})
		}
	}
	slices.SortFunc(out, func(a, b StaffMember) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}
