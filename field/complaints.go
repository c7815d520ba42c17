package field

import (
	"context"
	"time"

	"fieldsync"
	fsync "fieldsync/sync"
)

// Complaint channels, stages and follow-up methods (PRODUCT.md).
var (
	ComplaintChannels = []string{"phone", "on_site", "front_desk", "app"}
	ComplaintStages   = []string{fieldsync.StageReceived, fieldsync.StageClarifying, fieldsync.StageResolving, fieldsync.StageFollowUp, fieldsync.StageClosed}
	FollowUpMethods   = []string{"phone", "visit", "sms", "app"}
)

// Complaints declares the complaints collection: the complaint process of
// PRODUCT.md with its stage machine, reply deadlines, escalation, linked work
// orders and follow-up visit. Owners' phone numbers reach field roles masked.
func Complaints(opts Options) *fsync.Collection {
	reason := []fsync.Field{{Name: "reason", Kind: fsync.String, Max: 2000, Required: true}}
	notes := []fsync.Field{{Name: "notes", Kind: fsync.String, Max: 2000}}
	return &fsync.Collection{
		Name: fieldsync.CollComplaints,
		Fields: []fsync.Field{
			siteField,
			{Name: "channel", Kind: fsync.Enum, Values: ComplaintChannels, Client: true, Required: true},
			{Name: "owner_name", Kind: fsync.String, Max: 100, Client: true},
			{Name: "owner_phone", Kind: fsync.String, Max: 32, Client: true},
			{Name: "building", Kind: fsync.String, Max: 100, Client: true},
			{Name: "unit", Kind: fsync.String, Max: 100, Client: true},
			unitField,
			{Name: "category", Kind: fsync.Enum, Values: ComplaintCategories, Client: true, Default: "other", Queried: true},
			{Name: "content", Kind: fsync.String, Max: 4000, Client: true, Required: true},
			{Name: "photo_ids", Kind: fsync.MediaList, Client: true, AppendOnly: true, MaxItems: 50},
			// The callback the desk agrees with the owner: within this many
			// minutes of recording it (default: the settings' callback_minutes).
			{Name: "callback_minutes", Kind: fsync.Int, Min: 1, Max: 43200, Client: true},
			// Server fields.
			recordedAtField,
			deadlinePolicyField,
			{Name: "callback_by", Kind: fsync.Time},
			{Name: "callback_basis", Kind: fsync.Int},
			{Name: "callback_overdue", Kind: fsync.Bool, Default: false},
			{Name: "stage", Kind: fsync.Enum, Values: ComplaintStages, Default: fieldsync.StageReceived, Queried: true},
			{Name: "valid", Kind: fsync.Bool},
			{Name: "validity_reason", Kind: fsync.String},
			{Name: "stage_entered_at", Kind: fsync.Time},
			{Name: "deadline_stage", Kind: fsync.String},
			{Name: "reply_by", Kind: fsync.Time},
			{Name: "overdue", Kind: fsync.Bool, Default: false, Queried: true},
			{Name: "escalation_level", Kind: fsync.Int, Default: int64(0), Queried: true},
			{Name: "escalated_to", Kind: fsync.String},
			// The person the latest escalation reached.
			{Name: "escalated_to_id", Kind: fsync.UUID},
			{Name: "escalated_to_name", Kind: fsync.String},
			{Name: "escalations", Kind: fsync.ObjectList, AppendOnly: true, MaxItems: 10, Item: []fsync.Field{
				{Name: "level", Kind: fsync.Int, Required: true}, {Name: "at", Kind: fsync.Time, Required: true},
				{Name: "by", Kind: fsync.String, Required: true}, {Name: "by_name", Kind: fsync.String},
				{Name: "reason", Kind: fsync.String, Required: true}, {Name: "reply_by", Kind: fsync.Time, Required: true},
				{Name: "to", Kind: fsync.UUID}, {Name: "to_name", Kind: fsync.String}}},
			// The technicians of the orders raised from the complaint (they read it and its photos).
			{Name: "assignee_ids", Kind: fsync.UUIDList, Assignee: true},
			{Name: "work_order_ids", Kind: fsync.UUIDList, AppendOnly: true},
			workOrdersProgressField,
			{Name: "resolved_at", Kind: fsync.Time, Queried: true},
			{Name: "follow_up_due", Kind: fsync.Time},
			{Name: "follow_up_method", Kind: fsync.Enum, Values: FollowUpMethods},
			{Name: "satisfaction", Kind: fsync.Int, Min: 1, Max: 5, Queried: true},
			{Name: "follow_up_notes", Kind: fsync.String},
			{Name: "followed_up_at", Kind: fsync.Time},
			{Name: "followed_up_by", Kind: fsync.String},
			{Name: "followed_up_by_name", Kind: fsync.String},
			{Name: "result_summary", Kind: fsync.String},
			{Name: "closed_at", Kind: fsync.Time},
			timelineField,
		},
		StateField: "stage",
		Machine:    fieldsync.ComplaintTransitions,
		// Anyone registers a complaint. The desk keeps its facts until it is
		// closed; the person who registered it may complete them while it is
		// received and add evidence until it is closed. The owner's phone is
		// changed only by the roles that see it whole. Complaints are never
		// deleted: they are invalidated or closed, and a closed one changes only
		// through a supervisor's reopen.
		Rules: []fsync.Rule{
			{Op: fieldsync.OpCreate, Roles: everyone, Fields: []string{fsync.SiteField,
				"channel", "owner_name", "owner_phone", "building", "unit", "unit_id", "category", "content", "photo_ids"}},
			{Op: fieldsync.OpCreate, Roles: desk, Fields: all},
			{Op: fieldsync.OpUpdate, Roles: desk, When: fsync.NotIn("stage", fieldsync.StageClosed), Fields: []string{
				"channel", "owner_name", "owner_phone", "building", "unit", "unit_id", "category", "content", "photo_ids", "callback_minutes"}},
			{Op: fieldsync.OpUpdate, Roles: everyone, When: fsync.And(fsync.Own, fsync.In("stage", fieldsync.StageReceived)),
				Fields: []string{"owner_name", "building", "unit", "unit_id", "content", "photo_ids"}},
			{Op: fieldsync.OpUpdate, Roles: everyone, When: fsync.And(fsync.Own, fsync.NotIn("stage", fieldsync.StageClosed)), Fields: []string{"photo_ids"}},
		},
		Actions: []fsync.Action{
			{Name: "clarify", Args: []fsync.Field{{Name: "category", Kind: fsync.Enum, Values: ComplaintCategories}, notes[0]},
				Apply: func(a *fsync.ActionContext) error {
					if c, ok := a.Args["category"]; ok {
						a.Record.Set("category", c)
					}
					a.Record.Set("valid", true)
					return logStage(a, argString(a, "notes"))
				}},
			{Name: "invalidate", Args: reason, Apply: func(a *fsync.ActionContext) error {
				a.Record.Set("valid", false)
				a.Record.Set("validity_reason", a.Args["reason"])
				a.Record.Set("result_summary", a.Args["reason"])
				a.Record.Set("closed_at", a.Now)
				return logStage(a, argString(a, "reason"))
			}},
			{Name: "start_resolving", Args: notes, Apply: func(a *fsync.ActionContext) error { return logStage(a, argString(a, "notes")) }},
			{Name: "resolve", Args: notes, Apply: func(a *fsync.ActionContext) error {
				a.Record.Set("resolved_at", a.Now)
				a.Record.Set("follow_up_due", fsync.DeviceTime(a.Context(), a.Now).Add(policyMinutes(policy(a.Context(), opts, a.Record),
					"complaint."+fieldsync.StageFollowUp, fieldsync.DefaultStageDeadlines[fieldsync.StageFollowUp])))
				return logStage(a, argString(a, "notes"))
			}},
			{Name: "record_follow_up", Args: []fsync.Field{
				{Name: "method", Kind: fsync.Enum, Values: FollowUpMethods, Required: true},
				{Name: "satisfaction", Kind: fsync.Int, Min: 1, Max: 5, Required: true}, notes[0]},
				Apply: func(a *fsync.ActionContext) error {
					r := a.Record
					r.Set("follow_up_method", a.Args["method"])
					r.Set("satisfaction", a.Args["satisfaction"])
					r.Set("follow_up_notes", a.Args["notes"])
					r.Set("followed_up_at", a.Now)
					r.Set("followed_up_by", a.Caller.UserID)
					r.Set("followed_up_by_name", nonEmpty(a.Caller.Name))
					return logStage(a, argString(a, "notes"))
				}},
			{Name: "escalate", Args: []fsync.Field{reason[0], {Name: "to_user_id", Kind: fsync.UUID}},
				Apply: func(a *fsync.ActionContext) error { return escalateComplaint(a, opts) }},
			{Name: "reopen", Args: reason, Apply: func(a *fsync.ActionContext) error {
				for _, f := range []string{"closed_at", "result_summary"} {
					a.Record.Set(f, nil)
				}
				voidFollowUp(a.Record)
				return logStage(a, argString(a, "reason"))
			}},
			{Name: "close", Args: []fsync.Field{{Name: "result_summary", Kind: fsync.String, Max: 4000, Required: true}},
				Apply: func(a *fsync.ActionContext) error {
					if a.Record.Get("followed_up_at") == nil {
						return fieldsync.Errorf(fieldsync.EInvalidTransit, "record the follow-up visit before closing")
					}
					a.Record.Set("result_summary", a.Args["result_summary"])
					a.Record.Set("closed_at", a.Now)
					return logStage(a, "")
				}},
			{Name: "create_work_order", Args: []fsync.Field{
				{Name: "work_order_id", Kind: fsync.UUID, Required: true},
				{Name: "title", Kind: fsync.String, Max: 200, Required: true},
				{Name: "department", Kind: fsync.Enum, Values: Departments},
				{Name: "priority", Kind: fsync.Enum, Values: Priorities},
				{Name: "category", Kind: fsync.Enum, Values: Categories},
				{Name: "description", Kind: fsync.String, Max: 4000},
				{Name: "assignee_id", Kind: fsync.UUID}},
				Apply: func(a *fsync.ActionContext) error {
					r := a.Record
					set := map[string]any{"source": "complaint", "complaint_ids": []string{r.ID}, "description": r.GetString("content")}
					for _, f := range []string{"owner_name", "owner_phone", "building", "unit", "unit_id"} {
						if v := r.Get(f); v != nil {
							set[f] = v
						}
					}
					if !containsString(Categories, r.GetString("category")) {
						set["category"] = "other"
					} else {
						set["category"] = r.GetString("category")
					}
					o, err := raiseOrder(a, opts, set)
					if err != nil {
						return err
					}
					r.Append("work_order_ids", o.ID)
					list, _ := r.Get("work_orders").([]any)
					r.Set("work_orders", append(list, orderProgress(o)))
					if asg := o.GetString("assignee_id"); asg != "" {
						r.Append("assignee_ids", asg)
					}
					return logStage(a, "work order "+o.ID)
				}},
		},
		Compute: func(ctx context.Context, r *fsync.Record, now time.Time) { computeComplaint(ctx, opts, r, now) },
		Redact:  maskOwnerPhone,
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// prevStage is the stage before the machine moved it.
func prevStage(r *fsync.Record) string {
	if s := r.GetString("deadline_stage"); s != "" {
		return s
	}
	return fieldsync.StageReceived
}

func logStage(a *fsync.ActionContext, note string) error {
	logAction(a, "stage", prevStage(a.Record), note)
	return nil
}

// escalateComplaint raises an unsatisfied owner's complaint one level — 1: a
// supervisor of the site, 2: a manager (the upper department), which only a
// supervisor or above may ask for — with a new reply deadline. The person is
// args.to_user_id or the first of that role at the site; with a user
// directory there must be one.
func escalateComplaint(a *fsync.ActionContext, opts Options) error {
	r := a.Record
	level, _ := r.Get("escalation_level").(int64)
	if level >= fieldsync.MaxEscalation {
		return fieldsync.Errorf(fieldsync.EInvalidTransit, "the complaint is already at the highest escalation level %d", level)
	}
	level++
	if level >= 2 && !a.Caller.Role.IsSupervisory() {
		return fieldsync.Errorf(fieldsync.EForbidden, "only a supervisor or above escalates to level %d", level)
	}
	u, err := opts.escalationTarget(a.Context(), r.Tenant, r.SiteID, level, argString(a, "to_user_id"))
	if err != nil {
		return err
	}
	if u == nil && opts.Users != nil {
		return fieldsync.FieldErrorf("args.to_user_id", "no active %s at this site to escalate to", fieldsync.EscalationRoles[level])
	}
	from := prevStage(r)
	d := policyMinutes(policy(a.Context(), opts, r), "escalation", fieldsync.EscalationDeadline)
	escalate(r, a.Now, fsync.DeviceTime(a.Context(), a.Now).Add(d), level, a.Caller.UserID, a.Caller.Name, argString(a, "reason"), u)
	r.Set("stage_entered_at", a.Now)
	logAction(a, "stage", from, argString(a, "reason"))
	return nil
}

// escalate moves r to level with a new reply deadline, naming the person it
// reaches (u, may be nil), and voids the follow-up call made before: closing
// then needs a new one.
func escalate(r *fsync.Record, now, replyBy time.Time, level int64, by, byName, reason string, u *fieldsync.User) {
	r.Set("escalation_level", level)
	r.Set("escalated_to", fieldsync.ComplaintEscalationTargets[level])
	r.Set("reply_by", replyBy)
	r.Set("deadline_stage", r.GetString("stage"))
	entry := map[string]any{"level": level, "at": now.UTC().Format(time.RFC3339Nano), "by": by,
		"reason": reason, "reply_by": replyBy.UTC().Format(time.RFC3339Nano)}
	if byName != "" {
		entry["by_name"] = byName
	}
	r.Set("escalated_to_id", nil)
	r.Set("escalated_to_name", nil)
	if u != nil {
		r.Set("escalated_to_id", u.ID)
		r.Set("escalated_to_name", nonEmpty(u.Name))
		entry["to"] = u.ID
		if u.Name != "" {
			entry["to_name"] = u.Name
		}
	}
	r.Append("escalations", entry)
	voidFollowUp(r)
}

// voidFollowUp clears the follow-up call: an escalation or a reopen makes it stale.
func voidFollowUp(r *fsync.Record) {
	for _, f := range []string{"follow_up_method", "satisfaction", "follow_up_notes", "followed_up_at", "followed_up_by", "followed_up_by_name"} {
		r.Set(f, nil)
	}
}

// computeComplaint sets each stage's reply deadline when the stage changes
// and the overdue flag at now; a complaint still open past its reply
// deadline escalates by itself one level (to a supervisor, then a manager),
// each with a new deadline. Deadlines come from the settings kept on the
// complaint at its creation and count from when the staff member recorded
// the change on the device (sync.DeviceTime); so does the agreed callback.
func computeComplaint(ctx context.Context, opts Options, r *fsync.Record, now time.Time) {
	stage := r.GetString("stage")
	if r.Version == 1 && r.Get("timeline") == nil {
		r.Append("timeline", timelineEntry(r.CreatedAt, r.CreatedBy, r.CreatedByName, "create", "", stage, ""))
	}
	at := fsync.DeviceTime(ctx, now)
	if r.Version == 1 && r.Get("recorded_at") == nil {
		r.Set("recorded_at", at)
	}
	pol := policy(ctx, opts, r)
	if r.GetString("deadline_stage") != stage {
		r.Set("deadline_stage", stage)
		r.Set("stage_entered_at", at)
		if d, ok := fieldsync.DefaultStageDeadlines[stage]; ok {
			r.Set("reply_by", at.Add(policyMinutes(pol, "complaint."+stage, d)))
		} else {
			r.Set("reply_by", nil)
		}
	}
	cb, _ := r.Get("callback_minutes").(int64)
	if cb == 0 {
		cb = int64(policyMinutes(pol, "callback", fieldsync.DefaultCallback) / time.Minute)
	}
	if basis, _ := r.Get("callback_basis").(int64); basis != cb {
		r.Set("callback_basis", cb)
		r.Set("callback_by", at.Add(time.Duration(cb)*time.Minute))
	}
	cbBy := timeOf(r, "callback_by")
	answered := stage == fieldsync.StageFollowUp || stage == fieldsync.StageClosed
	r.Set("callback_overdue", !answered && !cbBy.IsZero() && now.After(cbBy))
	by := timeOf(r, "reply_by")
	overdue := stage != fieldsync.StageClosed && !by.IsZero() && now.After(by)
	level, _ := r.Get("escalation_level").(int64)
	if overdue && level < fieldsync.MaxEscalation {
		level++
		u := autoEscalationTarget(ctx, opts, r, level)
		reason := "reply deadline " + by.UTC().Format(time.RFC3339) + " passed"
		escalate(r, now, now.Add(policyMinutes(pol, "escalation", fieldsync.EscalationDeadline)), level, "server", "", reason, u)
		r.Append("timeline", timelineEntry(now, "server", "", "escalate", stage, stage, reason))
		overdue = false
	}
	r.Set("overdue", overdue)
}
