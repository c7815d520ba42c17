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
	CollUnits        = "units"
	CollHouseholds   = "households"
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
// Within the caller's sites it answers what ReadScopeOf declares.
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
	s := ReadScopeOf(c.Role, r.Collection)
	switch {
	case s.None:
		return false
	case s.All():
		return true
	}
	return s.Creator && r.CreatedBy == c.UserID ||
		s.Assignee && slices.Contains(r.AssigneeIDs, c.UserID) ||
		s.Window > 0 && now.Sub(r.CreatedAt) <= s.Window
}

// ReadScope is what a role reads of one collection at its sites, in terms a
// store can query: nothing, everything, or the records the caller created,
// is assigned to, or that were created within Window of now (any of those
// set). A scoped bootstrap asks the store for these records only.
type ReadScope struct {
	None     bool
	Creator  bool
	Assignee bool
	Window   time.Duration
}

// All reports whether the scope is every record of the sites.
func (s ReadScope) All() bool { return !s.None && !s.Creator && !s.Assignee && s.Window == 0 }

// ReadScopeOf is what role reads of collection coll at its own sites (an
// admin reads every site).
func ReadScopeOf(role Role, coll string) ReadScope {
	switch coll {
	case CollSites, CollCheckpoints, CollPatrolRoutes, CollUnits, CollHouseholds:
		return ReadScope{}
	}
	switch role {
	case RoleAdmin, RoleCSAgent, RoleSupervisor, RoleManager:
		return ReadScope{}
	case RoleGuard:
		switch coll {
		case CollPatrolRounds, CollComplaints:
			return ReadScope{Creator: true}
		case CollInspections:
			return ReadScope{Creator: true, Window: GuardInspectionWindow}
		}
	case RoleTechnician:
		switch coll {
		case CollWorkOrders:
			return ReadScope{Assignee: true}
		case CollInspections, CollComplaints:
			// Evidence follows the work: the technician of an order raised
			// from an inspection or a complaint reads that record (and so its photos).
			return ReadScope{Creator: true, Assignee: true}
		}
	}
	return ReadScope{None: true}
}

// What a role may create, update or delete is declared per collection and
// field next to each collection's declaration (sync.Rule); this file answers
// only who may read.

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
// customer service, supervisors, managers and admins of that site.
func CanReport(c *Caller, site string) bool {
	if c == nil || !c.HasSite(site) {
		return false
	}
	return c.Role.IsDesk()
}

// CanListStaff reports whether c may read the staff directory of their sites:
// the desk, which needs it to assign orders and escalate complaints.
func CanListStaff(c *Caller) bool {
	return c != nil && c.Role.IsDesk()
}
