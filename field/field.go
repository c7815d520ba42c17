// Package field is the property-management domain served by the sync
// engine: the synced collections (sites, patrol, inspections, work orders,
// complaints, units and households), who may change what, their actions,
// computed fields and redaction, the server jobs, the units import and the
// demo. registry.go is the one list of the collections, from which the
// engine's declarations and the stores' registry derive. It imports sync;
// sync knows nothing of it.
package field

import (
	"context"
	"slices"
	"time"

	"fieldsync"
	fsync "fieldsync/sync"

	"github.com/google/uuid"
)

// Categories of issues found on patrol and of the work they cause (PRODUCT.md).
var Categories = []string{"facilities", "fire_safety", "vehicles", "renovation", "sanitation", "greening", "other"}

// ComplaintCategories classify complaints: the issue categories plus matters
// only owners raise.
var ComplaintCategories = append(append([]string{}, Categories...), "security", "noise", "parking", "fees", "service")

// Options configure the field collections. Zero values mean defaults.
type Options struct {
	// SLAs are per-tenant work-order deadline tables by priority (a tenant
	// without one, or a priority missing from it, gets fieldsync.DefaultSLAs).
	SLAs map[string]map[string]fieldsync.SLA
	// Deadlines, when set, finds the deadline settings of a tenant's site
	// (over SLAs and the defaults), cached for DeadlineTTL (default
	// DefaultDeadlineCacheTTL; negative: not cached).
	Deadlines   fieldsync.DeadlineFinder
	DeadlineTTL time.Duration
	deadlines   *deadlineCache
	// Users, when set, checks assignees (an active technician of the order's
	// site and department, else invalid_input naming assignee_id) and finds
	// the person an escalation reaches.
	Users fieldsync.UserFinder
}

// checkAssignee validates the user an action assigns an order of department
// at site to, and returns them: an active technician of the site whose
// department, when they have one, is the order's.
func (o Options) checkAssignee(a *fsync.ActionContext, site, department, id string) (*fieldsync.User, error) {
	if o.Users == nil {
		return &fieldsync.User{ID: id}, nil
	}
	u, err := o.Users.User(a.Context(), a.Record.Tenant, id)
	switch {
	case fieldsync.ErrorCode(err) == fieldsync.ENotFound:
		return nil, fieldsync.FieldErrorf("args.assignee_id", "no such user")
	case err != nil:
		return nil, err
	}
	switch {
	case !u.Active || !slices.Contains(u.SiteIDs, site):
		return nil, fieldsync.FieldErrorf("args.assignee_id", "not an active user of this site")
	case u.Role != fieldsync.RoleTechnician:
		return nil, fieldsync.FieldErrorf("args.assignee_id", "work orders are dispatched to technicians, not to a %s", u.Role)
	case u.Department != "" && department != "" && u.Department != department:
		return nil, fieldsync.FieldErrorf("args.assignee_id", "a technician of %s, not of this order's department %s", u.Department, department)
	}
	return u, nil
}

// escalationTarget finds the person escalation level reaches at site: the
// user named by id (who must hold the level's role at the site), else the
// first active one of the site by name. nil, nil when there is nobody (or no
// user directory): the escalation keeps its label only.
func (o Options) escalationTarget(ctx context.Context, tenant, site string, level int64, id string) (*fieldsync.User, error) {
	if o.Users == nil || level <= 0 || int(level) >= len(fieldsync.EscalationRoles) {
		return nil, nil
	}
	role := fieldsync.EscalationRoles[level]
	staff, err := o.Users.Staff(ctx, tenant, site)
	if err != nil {
		return nil, err
	}
	for _, u := range staff {
		if u.Role == role && (id == "" || u.ID == id) {
			return u, nil
		}
	}
	if id != "" {
		return nil, fieldsync.FieldErrorf("args.to_user_id", "not an active %s of this site", role)
	}
	return nil, nil
}

// Role groups of the write rules.
var (
	everyone   = fieldsync.Roles
	desk       = fieldsync.DeskRoles
	adminsOnly = []fieldsync.Role{fieldsync.RoleAdmin}
	all        = []string{fsync.AllFields}
)

// referenceRules: sites, checkpoints and routes are written by admins only.
var referenceRules = []fsync.Rule{
	{Op: fieldsync.OpCreate, Roles: adminsOnly, Fields: all},
	{Op: fieldsync.OpUpdate, Roles: adminsOnly, Fields: all},
	{Op: fieldsync.OpDelete, Roles: adminsOnly},
}

// siteField is the required immutable site_id every collection starts with.
var siteField = fsync.Field{Name: fsync.SiteField, Kind: fsync.String, Max: 64, Client: true, Required: true, Immutable: true}

// workOrdersProgressField shows, on a complaint or an inspection, the
// progress of the work orders raised from it (see orderProgress).
var workOrdersProgressField = fsync.Field{Name: "work_orders", Kind: fsync.ObjectList, MaxItems: 100, Item: []fsync.Field{
	{Name: "id", Kind: fsync.UUID, Required: true}, {Name: "status", Kind: fsync.String}, {Name: "title", Kind: fsync.String},
	{Name: "assignee_id", Kind: fsync.UUID}, {Name: "assignee_name", Kind: fsync.String}}}

// timelineField is an append-only history of who did what and when.
var timelineField = fsync.Field{Name: "timeline", Kind: fsync.ObjectList, AppendOnly: true, MaxItems: 1000, Item: []fsync.Field{
	{Name: "at", Kind: fsync.Time, Required: true}, {Name: "by", Kind: fsync.String, Max: 64, Required: true},
	{Name: "by_name", Kind: fsync.String, Max: 100},
	{Name: "action", Kind: fsync.String, Max: 64, Required: true}, {Name: "from", Kind: fsync.String, Max: 64},
	{Name: "to", Kind: fsync.String, Max: 64}, {Name: "note", Kind: fsync.String, Max: 4000}}}

// timelineEntry is one timeline element: who (id and name), what, from which
// state to which, and a note.
func timelineEntry(at time.Time, by, byName, action, from, to, note string) map[string]any {
	e := map[string]any{"at": at.UTC().Format(time.RFC3339Nano), "by": by, "action": action}
	for k, v := range map[string]string{"by_name": byName, "from": from, "to": to, "note": note} {
		if v != "" {
			e[k] = v
		}
	}
	return e
}

// logAction appends the action to the record's timeline; from is the state before.
func logAction(a *fsync.ActionContext, stateField, from, note string) {
	a.Record.Append("timeline", timelineEntry(a.Now, a.Caller.UserID, a.Caller.Name, a.Action, from, a.Record.GetString(stateField), note))
}

// timeOf parses a time field ("" or malformed: zero).
func timeOf(r *fsync.Record, field string) time.Time { return parsedTime(r.Get(field)) }

// parsedTime reads a decoded time value (zero when absent).
func parsedTime(v any) time.Time {
	s, _ := v.(string)
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// argString returns a string argument, or "".
func argString(a *fsync.ActionContext, name string) string { s, _ := a.Args[name].(string); return s }

// derivedID is a stable id for a record the server creates on behalf of
// another (so a retried action or a re-run seed makes the same record).
func derivedID(parts ...string) string {
	name := ""
	for _, p := range parts {
		name += p + "/"
	}
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("fieldsync:"+name)).String()
}

// deskRole reports whether the caller works at the customer-service desk.
func deskRole(c *fieldsync.Caller) bool { return c != nil && c.Role.IsDesk() }

// maskOwnerPhone hides owners' phone numbers from field roles.
func maskOwnerPhone(c *fieldsync.Caller, doc map[string]any) {
	if p, ok := doc["owner_phone"].(string); ok && (c == nil || !fieldsync.SeesOwnerContact(c.Role)) {
		doc["owner_phone"] = fieldsync.MaskPhone(p)
	}
}
