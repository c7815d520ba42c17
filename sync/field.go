package sync

import (
	"time"

	"fieldsync"

	"github.com/google/uuid"
)

// Categories of issues found on patrol and of the work they cause (PRODUCT.md).
var Categories = []string{"facilities", "fire_safety", "vehicles", "renovation", "sanitation", "greening", "other"}

// ComplaintCategories classify complaints: the issue categories plus matters
// only owners raise.
var ComplaintCategories = append(append([]string{}, Categories...), "security", "noise", "parking", "fees", "service")

// FieldOptions configure the field-domain collections. Zero values mean defaults.
type FieldOptions struct {
	// SLAs are per-tenant work-order deadline tables by priority (a tenant
	// without one, or a priority missing from it, gets fieldsync.DefaultSLAs).
	SLAs map[string]map[string]fieldsync.SLA
	// Users, when set, checks assignees: an active user holding the order's
	// site (else invalid_input naming assignee_id).
	Users fieldsync.UserFinder
}

// checkAssignee validates the user an action assigns an order at site to.
func (o FieldOptions) checkAssignee(a *ActionContext, site, id string) error {
	if o.Users == nil {
		return nil
	}
	u, err := o.Users.User(a.Context(), a.Record.Tenant, id)
	switch {
	case fieldsync.ErrorCode(err) == fieldsync.ENotFound:
		return fieldsync.FieldErrorf("args.assignee_id", "no such user")
	case err != nil:
		return err
	}
	c := fieldsync.Caller{Role: u.Role, SiteIDs: u.SiteIDs}
	if !u.Active || !c.HasSite(site) {
		return fieldsync.FieldErrorf("args.assignee_id", "not an active user of this site")
	}
	return nil
}

// sla returns the deadline table of tenant.
func (o FieldOptions) sla(tenant string) map[string]fieldsync.SLA {
	t := o.SLAs[tenant]
	if t == nil {
		return fieldsync.DefaultSLAs
	}
	out := make(map[string]fieldsync.SLA, len(fieldsync.DefaultSLAs))
	for p, s := range fieldsync.DefaultSLAs {
		out[p] = s
	}
	for p, s := range t {
		out[p] = s
	}
	return out
}

// FieldCollections declares every collection of the field domain.
func FieldCollections(opts FieldOptions) []*Collection {
	ins := Inspections()
	ins.Actions = []Action{raiseWorkOrder(opts)}
	return []*Collection{Sites(), Checkpoints(), PatrolRoutes(), PatrolRounds(), ins, WorkOrders(opts), Complaints(opts)}
}

// siteField is the required immutable site_id every collection starts with.
var siteField = Field{Name: SiteField, Kind: String, Max: 64, Client: true, Required: true, Immutable: true}

// timelineField is an append-only history of who did what and when.
var timelineField = Field{Name: "timeline", Kind: ObjectList, AppendOnly: true, MaxItems: 1000, Item: []Field{
	{Name: "at", Kind: Time, Required: true}, {Name: "by", Kind: String, Max: 64, Required: true},
	{Name: "action", Kind: String, Max: 64, Required: true}, {Name: "from", Kind: String, Max: 64},
	{Name: "to", Kind: String, Max: 64}, {Name: "note", Kind: String, Max: 4000}}}

// timelineEntry is one timeline element.
func timelineEntry(at time.Time, by, action, from, to, note string) map[string]any {
	e := map[string]any{"at": at.UTC().Format(time.RFC3339Nano), "by": by, "action": action}
	for k, v := range map[string]string{"from": from, "to": to, "note": note} {
		if v != "" {
			e[k] = v
		}
	}
	return e
}

// logAction appends the action to the record's timeline; from is the state before.
func logAction(a *ActionContext, stateField, from, note string) {
	a.Record.Append("timeline", timelineEntry(a.Now, a.Caller.UserID, a.Action, from, a.Record.GetString(stateField), note))
}

// timeOf parses a time field ("" or malformed: zero).
func timeOf(r *Record, field string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, r.GetString(field))
	return t
}

// argString returns a string argument, or "".
func argString(a *ActionContext, name string) string { s, _ := a.Args[name].(string); return s }

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
func deskRole(c *fieldsync.Caller) bool {
	return c != nil && (c.Role == fieldsync.RoleCSAgent || c.Role == fieldsync.RoleSupervisor || c.Role == fieldsync.RoleAdmin)
}

// maskOwnerPhone hides owners' phone numbers from field roles.
func maskOwnerPhone(c *fieldsync.Caller, doc map[string]any) {
	if p, ok := doc["owner_phone"].(string); ok && (c == nil || !fieldsync.SeesOwnerContact(c.Role)) {
		doc["owner_phone"] = fieldsync.MaskPhone(p)
	}
}
