package fieldsync

import (
	"context"
	"slices"
	"time"
)

// Collection names of the synced records.
const (
	CollSites        = "sites"
	CollCheckpoints  = "checkpoints"
	CollPatrolRoutes = "patrol_routes"
	CollPatrolRounds = "patrol_rounds"
	CollInspections  = "inspections"
	CollWorkOrders   = "work_orders"
	CollComplaints   = "complaints"
)

// GuardInspectionWindow is how far back a guard sees the inspections of their sites.
const GuardInspectionWindow = 7 * 24 * time.Hour

// RecordRef is what authorization needs to know about a record.
type RecordRef struct {
	Collection string
	ID         string
	TenantID   string
	SiteID     string
	CreatedBy  string
	CreatedAt  time.Time
	// AssigneeIDs are the users a record is assigned to: a work order's assignee,
	// or the assignees of the work orders linked to an inspection.
	AssigneeIDs []string
}

// CanRead reports whether c may read r at time now. It is the single answer to
// "who sees what" in PRODUCT.md; handlers and the sync engine all ask it.
func CanRead(c *Caller, r RecordRef, now time.Time) bool {
	if c == nil || r.TenantID != c.TenantID {
		return false
	}
	if c.Role == RoleAdmin {
		return true
	}
	if !slices.Contains(c.SiteIDs, r.SiteID) {
		return false
	}
	switch r.Collection {
	case CollSites, CollCheckpoints, CollPatrolRoutes:
		return true
	}
	switch c.Role {
	case RoleCSAgent, RoleSupervisor:
		return true
	case RoleGuard:
		switch r.Collection {
		case CollPatrolRounds:
			return r.CreatedBy == c.UserID
		case CollInspections:
			return r.CreatedBy == c.UserID || now.Sub(r.CreatedAt) <= GuardInspectionWindow
		case CollComplaints:
			return r.CreatedBy == c.UserID
		}
	case RoleTechnician:
		switch r.Collection {
		case CollWorkOrders, CollInspections:
			return slices.Contains(r.AssigneeIDs, c.UserID)
		case CollComplaints:
			return r.CreatedBy == c.UserID
		}
	}
	return false
}

// CanCreate reports whether c may create a record of collection at site.
func CanCreate(c *Caller, collection, site string) bool {
	if c == nil || !c.HasSite(site) {
		return false
	}
	switch collection {
	case CollSites, CollCheckpoints, CollPatrolRoutes:
		return c.Role == RoleAdmin
	case CollPatrolRounds:
		return c.Role == RoleGuard || c.Role == RoleAdmin
	case CollInspections:
		return c.Role != RoleTechnician
	case CollWorkOrders:
		return c.Role == RoleCSAgent || c.Role == RoleSupervisor || c.Role == RoleAdmin
	case CollComplaints:
		return true
	}
	return false
}

// CanWrite reports whether c may change (update, act on, delete) the record r.
// Actions carry finer role rules of their own on top of this.
func CanWrite(c *Caller, r RecordRef, now time.Time) bool {
	if !CanRead(c, r, now) {
		return false
	}
	switch r.Collection {
	case CollSites, CollCheckpoints, CollPatrolRoutes:
		return c.Role == RoleAdmin
	case CollInspections:
		if c.Role == RoleGuard {
			return r.CreatedBy == c.UserID
		}
	}
	return true
}

// Citation is a record that cites a media object (a photo id, a signature).
type Citation struct {
	MediaID string
	Record  RecordRef
}

// CitationFinder finds the records that cite media. The sync engine implements
// it from its collection declarations; the media service asks it who may see a photo.
type CitationFinder interface {
	// Citing returns the live records of tenant citing any of mediaIDs.
	Citing(ctx context.Context, tenant string, mediaIDs []string) ([]Citation, error)
	// CitedAtSite returns every citation by live records of tenant's site.
	CitedAtSite(ctx context.Context, tenant, site string) ([]Citation, error)
}

// CanAdminister reports whether c may manage the users, sites and devices of
// their own tenant (the admin API). Tenants never mix: every admin query is
// further bounded to c.TenantID by the service.
func CanAdminister(c *Caller) bool {
	return c != nil && c.Role == RoleAdmin
}

// CanReport reports whether c may read the customer-service reports of site:
// customer service, supervisors and admins of that site.
func CanReport(c *Caller, site string) bool {
	if c == nil || !c.HasSite(site) {
		return false
	}
	return c.Role == RoleCSAgent || c.Role == RoleSupervisor || c.Role == RoleAdmin
}
