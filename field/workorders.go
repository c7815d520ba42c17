package field

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"fieldsync"
	fsync "fieldsync/sync"
)

// Work order sources and departments (PRODUCT.md).
var (
	WorkOrderSources     = []string{"inspection", "complaint", "owner_request", "planned"}
	Departments          = []string{"engineering", "environment", "security", "customer_service"}
	Priorities           = []string{fieldsync.PriorityUrgent, fieldsync.PriorityNormal, fieldsync.PriorityLow}
	WorkOrderStatuses    = []string{fieldsync.WOOpen, fieldsync.WOAssigned, fieldsync.WOAccepted, fieldsync.WOInProgress, fieldsync.WOOnHold, fieldsync.WOCompleted, fieldsync.WOVerified, fieldsync.WOCancelled}
	dissatisfiedMaxScore = int64(2)
)

// defaultDepartment is the department of an order that names none.
const defaultDepartment = "engineering"

// RepeatWindow links a repair to a completed one at the same unit and category within it.
const RepeatWindow = 30 * 24 * time.Hour

// workOrderFields are the fields of a work order; inspections and complaints
// create orders with the client-settable subset.
var workOrderFields = []fsync.Field{
	siteField,
	{Name: "source", Kind: fsync.Enum, Values: WorkOrderSources, Client: true, Default: "owner_request"},
	{Name: "department", Kind: fsync.Enum, Values: Departments, Client: true, Default: defaultDepartment},
	{Name: "priority", Kind: fsync.Enum, Values: Priorities, Client: true, Default: fieldsync.PriorityNormal, Queried: true},
	{Name: "category", Kind: fsync.Enum, Values: Categories, Client: true, Default: "facilities", Queried: true},
	{Name: "title", Kind: fsync.String, Max: 200, Client: true, Required: true, Queried: true},
	{Name: "description", Kind: fsync.String, Max: 4000, Client: true},
	{Name: "building", Kind: fsync.String, Max: 100, Client: true},
	{Name: "unit", Kind: fsync.String, Max: 100, Client: true},
	unitField,
	{Name: "location", Kind: fsync.String, Max: 200, Client: true},
	{Name: "owner_name", Kind: fsync.String, Max: 100, Client: true},
	{Name: "owner_phone", Kind: fsync.String, Max: 32, Client: true},
	{Name: "before_photo_ids", Kind: fsync.MediaList, Client: true, AppendOnly: true, MaxItems: 50},
	{Name: "after_photo_ids", Kind: fsync.MediaList, Client: true, AppendOnly: true, MaxItems: 50},
	{Name: "parts", Kind: fsync.StringList, Max: 200, MaxItems: 100, Client: true},
	{Name: "notes", Kind: fsync.String, Max: 4000, Client: true},
	// Server fields: links, state, the action record, deadlines and flags.
	{Name: "inspection_id", Kind: fsync.UUID},
	{Name: "complaint_ids", Kind: fsync.UUIDList, AppendOnly: true},
	{Name: "repeat_of", Kind: fsync.UUID},
	{Name: "status", Kind: fsync.Enum, Values: WorkOrderStatuses, Default: fieldsync.WOOpen, Queried: true},
	{Name: "assignee_id", Kind: fsync.UUID, Assignee: true, Queried: true},
	{Name: "assignee_name", Kind: fsync.String, Queried: true},
	{Name: "assigned_at", Kind: fsync.Time},
	{Name: "accepted_at", Kind: fsync.Time},
	{Name: "started_at", Kind: fsync.Time},
	{Name: "completed_at", Kind: fsync.Time, Queried: true},
	{Name: "verified_at", Kind: fsync.Time},
	{Name: "cancelled_at", Kind: fsync.Time},
	{Name: "hold_reason", Kind: fsync.String},
	{Name: "cancel_reason", Kind: fsync.String},
	{Name: "reopen_reason", Kind: fsync.String},
	{Name: "resolution", Kind: fsync.String, Max: 4000},
	{Name: "signature_media_id", Kind: fsync.Media},
	{Name: "satisfaction", Kind: fsync.Int, Min: 1, Max: 5, Queried: true},
	{Name: "verify_notes", Kind: fsync.String},
	{Name: "respond_by", Kind: fsync.Time},
	{Name: "resolve_by", Kind: fsync.Time, Queried: true},
	{Name: "sla_priority", Kind: fsync.String},
	recordedAtField,
	deadlinePolicyField,
	{Name: "respond_breached", Kind: fsync.Bool, Default: false},
	{Name: "resolve_breached", Kind: fsync.Bool, Default: false},
	{Name: "overdue", Kind: fsync.Bool, Default: false, Queried: true},
	{Name: "escalated", Kind: fsync.Bool, Default: false, Queried: true},
	{Name: "escalated_to", Kind: fsync.String},
	{Name: "escalated_to_id", Kind: fsync.UUID},
	{Name: "escalated_to_name", Kind: fsync.String},
	{Name: "escalated_at", Kind: fsync.Time},
	timelineField,
}

// workOrderRules: the desk owns what the company is measured by — priority,
// department, category, source, the order's description and the owner's
// contact — while the order is open to change (not verified or cancelled);
// deadlines, status and assignment move only through actions. The assignee
// adds notes, parts and photos while the order is theirs and not completed.
// Orders are never deleted: they are cancelled with a reason.
var workOrderRules = []fsync.Rule{
	{Op: fieldsync.OpCreate, Roles: desk, Fields: all},
	{Op: fieldsync.OpUpdate, Roles: desk, When: fsync.NotIn("status", fieldsync.WOVerified, fieldsync.WOCancelled), Fields: []string{
		"source", "department", "priority", "category", "title", "description", "building", "unit", "unit_id", "location",
		"owner_name", "owner_phone", "before_photo_ids", "notes"}},
	{Op: fieldsync.OpUpdate, Roles: []fieldsync.Role{fieldsync.RoleTechnician},
		When:   fsync.And(fsync.Assigned, fsync.In("status", fieldsync.WOAssigned, fieldsync.WOAccepted, fieldsync.WOInProgress, fieldsync.WOOnHold)),
		Fields: []string{"notes", "parts", "before_photo_ids", "after_photo_ids"}},
}

// WorkOrders declares the work_orders collection: the status machine,
// actions and deadlines of PRODUCT.md.
func WorkOrders(opts Options) *fsync.Collection {
	reason := []fsync.Field{{Name: "reason", Kind: fsync.String, Max: 2000, Required: true}}
	return &fsync.Collection{
		Name:       fieldsync.CollWorkOrders,
		Fields:     workOrderFields,
		StateField: "status",
		Machine:    fieldsync.WorkOrderTransitions,
		Rules:      workOrderRules,
		Actions: []fsync.Action{
			{Name: "assign", Args: []fsync.Field{{Name: "assignee_id", Kind: fsync.UUID, Required: true}, {Name: "note", Kind: fsync.String, Max: 2000}}, Apply: func(a *fsync.ActionContext) error { return assignOrder(a, opts) }},
			{Name: "accept", Apply: orderStep("accepted_at", "")},
			{Name: "start", Apply: orderStep("started_at", "")},
			{Name: "hold", Args: reason, Apply: orderStep("", "hold_reason")},
			{Name: "resume", Apply: orderStep("", "")},
			{Name: "complete", Args: []fsync.Field{
				{Name: "resolution", Kind: fsync.String, Max: 4000, Required: true},
				{Name: "parts", Kind: fsync.StringList, Max: 200, MaxItems: 100},
				{Name: "after_photo_ids", Kind: fsync.MediaList, MaxItems: 50},
				{Name: "signature_media_id", Kind: fsync.Media}}, Apply: completeOrder},
			{Name: "verify", Args: []fsync.Field{{Name: "satisfaction", Kind: fsync.Int, Min: 1, Max: 5, Required: true}, {Name: "notes", Kind: fsync.String, Max: 2000}},
				Apply: verifyOrder},
			{Name: "reopen", Args: reason, Apply: reopenOrder},
			{Name: "cancel", Args: reason, Apply: orderStep("cancelled_at", "cancel_reason")},
		},
		Compute: func(ctx context.Context, r *fsync.Record, now time.Time) { computeOrder(ctx, opts, r, now) },
		Redact:  maskOwnerPhone,
	}
}

// prevState is the state before the machine moved it (the newest timeline
// entry's "to", or open).
func prevState(r *fsync.Record) string {
	tl, _ := r.Get("timeline").([]any)
	for i := len(tl) - 1; i >= 0; i-- {
		if m, ok := tl[i].(map[string]any); ok {
			if to, ok := m["to"].(string); ok && to != "" {
				return to
			}
		}
	}
	return fieldsync.WOOpen
}

// orderStep records an action: a timestamp field, a reason field, the timeline.
func orderStep(stamp, reasonField string) func(*fsync.ActionContext) error {
	return func(a *fsync.ActionContext) error {
		from := prevState(a.Record)
		if stamp != "" {
			a.Record.Set(stamp, a.Now)
		}
		if reasonField != "" {
			a.Record.Set(reasonField, argString(a, "reason"))
		}
		logAction(a, "status", from, argString(a, "reason"))
		return syncOrderLinks(a)
	}
}

func assignOrder(a *fsync.ActionContext, opts Options) error {
	r := a.Record
	// Two agents assigning at once: the one whose phone had not seen the
	// other's assignment is refused instead of silently overwriting it.
	if a.BaseVersion > 0 && r.FieldVersions["assignee_id"] > a.BaseVersion && r.FieldDevices["assignee_id"] != a.Caller.DeviceID {
		return fieldsync.Errorf(fieldsync.EConflict, "the order was assigned by someone else since version %d", a.BaseVersion)
	}
	u, err := opts.checkAssignee(a, r.SiteID, r.GetString("department"), argString(a, "assignee_id"))
	if err != nil {
		return err
	}
	from := prevState(r)
	old, oldName := r.GetString("assignee_id"), r.GetString("assignee_name")
	r.Set("assignee_id", a.Args["assignee_id"])
	r.Set("assignee_name", nonEmpty(u.Name))
	r.Set("assigned_at", a.Now)
	note := "to " + firstOf(u.Name, u.ID)
	if old != "" && old != argString(a, "assignee_id") {
		note += ", reassigned from " + firstOf(oldName, old)
	}
	if n := argString(a, "note"); n != "" {
		note += ". " + n
	}
	logAction(a, "status", from, note)
	return syncOrderLinks(a)
}

func completeOrder(a *fsync.ActionContext) error {
	r := a.Record
	from := prevState(r)
	r.Set("resolution", a.Args["resolution"])
	if p, ok := a.Args["parts"]; ok {
		r.Set("parts", p)
	}
	if p, ok := a.Args["after_photo_ids"]; ok {
		photos, _ := p.([]any)
		r.Append("after_photo_ids", photos...)
	}
	if s, ok := a.Args["signature_media_id"]; ok {
		r.Set("signature_media_id", s)
	}
	r.Set("completed_at", a.Now)
	logAction(a, "status", from, "")
	return syncOrderLinks(a)
}

// verifyOrder records the follow-up of a completed order; an unhappy owner
// (satisfaction ≤ 2) opens a complaint linked to the order.
func verifyOrder(a *fsync.ActionContext) error {
	r := a.Record
	from := prevState(r)
	score, _ := a.Args["satisfaction"].(int64)
	r.Set("satisfaction", score)
	r.Set("verify_notes", a.Args["notes"])
	r.Set("verified_at", a.Now)
	logAction(a, "status", from, "satisfaction "+strconv.FormatInt(score, 10))
	if score <= dissatisfiedMaxScore {
		cid := derivedID("dissatisfied", r.ID, strconv.FormatInt(r.Version, 10))
		content := "Owner not satisfied with work order: " + r.GetString("title")
		if n := argString(a, "notes"); n != "" {
			content += ". " + n
		}
		set := map[string]any{"channel": "phone", "category": r.GetString("category"), "content": content,
			"work_order_ids": []string{r.ID}, "work_orders": []any{orderProgress(r)}}
		for _, f := range []string{"owner_name", "owner_phone", "building", "unit"} {
			if v := r.Get(f); v != nil {
				set[f] = v
			}
		}
		a.Write(fsync.Write{Collection: fieldsync.CollComplaints, ID: cid, Create: true, SiteID: r.SiteID, Set: set})
		r.Append("complaint_ids", cid)
	}
	return syncOrderLinks(a)
}

func reopenOrder(a *fsync.ActionContext) error {
	r := a.Record
	from := prevState(r)
	r.Set("reopen_reason", a.Args["reason"])
	for _, f := range []string{"completed_at", "verified_at", "satisfaction", "verify_notes"} {
		r.Set(f, nil)
	}
	logAction(a, "status", from, argString(a, "reason"))
	return syncOrderLinks(a)
}

// orderProgress is what a complaint or an inspection shows of an order raised from it.
func orderProgress(r *fsync.Record) map[string]any {
	p := map[string]any{"id": r.ID, "status": r.GetString("status"), "title": r.GetString("title")}
	if a := r.GetString("assignee_id"); a != "" {
		p["assignee_id"] = a
		if n := r.GetString("assignee_name"); n != "" {
			p["assignee_name"] = n
		}
	}
	return p
}

// syncOrderLinks shows the order's progress on the records it was raised
// from (its complaints and its inspection), and lets the technicians of their
// orders read them: a source's assignee_ids are the current assignees of
// every order raised from it, so a reassigned order's source leaves the old
// technician's phone too.
func syncOrderLinks(a *fsync.ActionContext) error {
	o := a.Record
	sources := map[string][]string{fieldsync.CollComplaints: stringList(o.Get("complaint_ids"))}
	if id := o.GetString("inspection_id"); id != "" {
		sources[fieldsync.CollInspections] = []string{id}
	}
	for coll, ids := range sources {
		if len(ids) == 0 {
			continue
		}
		recs, err := a.Lookup(coll, ids...)
		if err != nil {
			return err
		}
		for _, src := range recs {
			progress, err := linkedProgress(a, src, o)
			if err != nil {
				return err
			}
			var asg []string
			for _, e := range progress {
				if id, _ := e.(map[string]any)["assignee_id"].(string); id != "" && !slices.Contains(asg, id) {
					asg = append(asg, id)
				}
			}
			a.Write(fsync.Write{Collection: coll, ID: src.ID, Set: map[string]any{"work_orders": progress, "assignee_ids": asg},
				Append: map[string][]any{"work_order_ids": {o.ID}}})
		}
	}
	return nil
}

// linkedProgress is src's list of order progress with o's entry brought up
// to date (orders linked before the list existed are looked up once).
func linkedProgress(a *fsync.ActionContext, src, o *fsync.Record) ([]any, error) {
	list, _ := src.Get("work_orders").([]any)
	next := make([]any, 0, len(list)+1)
	listed := map[string]bool{o.ID: true}
	for _, e := range list {
		if m, ok := e.(map[string]any); ok && !listed[fmt.Sprint(m["id"])] {
			listed[fmt.Sprint(m["id"])] = true
			next = append(next, e)
		}
	}
	var missing []string
	for _, id := range stringList(src.Get("work_order_ids")) {
		if !listed[id] {
			missing = append(missing, id)
		}
	}
	others, err := a.Lookup(fieldsync.CollWorkOrders, missing...)
	if err != nil {
		return nil, err
	}
	for _, x := range others {
		next = append(next, orderProgress(x))
	}
	return append(next, orderProgress(o)), nil
}

// stringList reads the strings of a list field's value.
func stringList(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// nonEmpty is s, or nil (the field is removed) when s is empty.
func nonEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// firstOf returns the first non-empty of ss.
func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// computeOrder derives deadlines from the priority and creation time, the
// breached flags at now, and the automatic escalation of a late urgent order
// to a supervisor of the site.
func computeOrder(ctx context.Context, opts Options, r *fsync.Record, now time.Time) {
	if r.Version == 1 && r.Get("timeline") == nil {
		r.Append("timeline", timelineEntry(r.CreatedAt, r.CreatedBy, r.CreatedByName, "create", "", r.GetString("status"), ""))
	}
	if r.Version == 1 && r.Get("recorded_at") == nil {
		r.Set("recorded_at", fsync.DeviceTime(ctx, now))
	}
	pol := policy(ctx, opts, r)
	p := r.GetString("priority")
	if r.GetString("sla_priority") != p {
		base := timeOf(r, "recorded_at")
		if base.IsZero() {
			base = r.CreatedAt
		}
		def, ok := fieldsync.DefaultSLAs[p]
		if !ok {
			def = fieldsync.DefaultSLAs[fieldsync.PriorityNormal]
		}
		respond := base.Add(policyMinutes(pol, "work_order."+p+".respond", def.RespondWithin))
		resolve := base.Add(policyMinutes(pol, "work_order."+p+".resolve", def.ResolveWithin))
		r.Set("respond_by", respond)
		r.Set("resolve_by", resolve)
		r.Set("sla_priority", p)
	}
	responded, resolved := timeOf(r, "accepted_at"), timeOf(r, "completed_at")
	if r.GetString("status") == fieldsync.WOCancelled {
		c := timeOf(r, "cancelled_at")
		responded, resolved = firstTime(responded, c), firstTime(resolved, c)
	}
	rb, sb := fieldsync.Breaches(now, timeOf(r, "respond_by"), timeOf(r, "resolve_by"), responded, resolved)
	r.Set("respond_breached", rb)
	r.Set("resolve_breached", sb)
	r.Set("overdue", rb || sb)
	if rb && p == fieldsync.PriorityUrgent && r.Get("escalated") != true {
		r.Set("escalated", true)
		r.Set("escalated_to", "supervisor")
		r.Set("escalated_at", now)
		note := "urgent order not accepted by its respond-by deadline"
		if u := autoEscalationTarget(ctx, opts, r, 1); u != nil {
			r.Set("escalated_to_id", u.ID)
			r.Set("escalated_to_name", u.Name)
			note += "; escalated to " + firstOf(u.Name, u.ID)
		}
		r.Append("timeline", timelineEntry(now, "server", "", "escalate", "", r.GetString("status"), note))
	}
}

// autoEscalationTarget is the person a server-made escalation of r to level
// reaches, or nil (nobody of that role at the site, or the directory failed:
// the escalation keeps its label, and the error is logged by the caller's
// request or job through the record's timeline note).
func autoEscalationTarget(ctx context.Context, opts Options, r *fsync.Record, level int64) *fieldsync.User {
	u, err := opts.escalationTarget(ctx, r.Tenant, r.SiteID, level, "")
	if err != nil {
		return nil
	}
	return u
}

func firstTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
