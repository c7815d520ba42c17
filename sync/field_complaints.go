package sync

import (
	"time"

	"fieldsync"
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
func Complaints(opts FieldOptions) *Collection {
	reason := []Field{{Name: "reason", Kind: String, Max: 2000, Required: true}}
	notes := []Field{{Name: "notes", Kind: String, Max: 2000}}
	return &Collection{
		Name: fieldsync.CollComplaints,
		Fields: []Field{
			siteField,
			{Name: "channel", Kind: Enum, Values: ComplaintChannels, Client: true, Required: true},
			{Name: "owner_name", Kind: String, Max: 100, Client: true},
			{Name: "owner_phone", Kind: String, Max: 32, Client: true},
			{Name: "building", Kind: String, Max: 100, Client: true},
			{Name: "unit", Kind: String, Max: 100, Client: true},
			{Name: "category", Kind: Enum, Values: ComplaintCategories, Client: true, Default: "other", Queried: true},
			{Name: "content", Kind: String, Max: 4000, Client: true, Required: true},
			{Name: "photo_ids", Kind: MediaList, Client: true, AppendOnly: true, MaxItems: 50},
			// Server fields.
			{Name: "stage", Kind: Enum, Values: ComplaintStages, Default: fieldsync.StageReceived, Queried: true},
			{Name: "valid", Kind: Bool},
			{Name: "validity_reason", Kind: String},
			{Name: "stage_entered_at", Kind: Time},
			{Name: "deadline_stage", Kind: String},
			{Name: "reply_by", Kind: Time},
			{Name: "overdue", Kind: Bool, Default: false, Queried: true},
			{Name: "escalation_level", Kind: Int, Default: int64(0), Queried: true},
			{Name: "escalated_to", Kind: String},
			{Name: "escalations", Kind: ObjectList, AppendOnly: true, MaxItems: 10, Item: []Field{
				{Name: "level", Kind: Int, Required: true}, {Name: "at", Kind: Time, Required: true},
				{Name: "by", Kind: String, Required: true}, {Name: "reason", Kind: String, Required: true},
				{Name: "reply_by", Kind: Time, Required: true}}},
			{Name: "work_order_ids", Kind: UUIDList, AppendOnly: true},
			{Name: "work_orders", Kind: ObjectList, MaxItems: 100, Item: []Field{
				{Name: "id", Kind: UUID, Required: true}, {Name: "status", Kind: String}, {Name: "title", Kind: String},
				{Name: "assignee_id", Kind: UUID}}},
			{Name: "resolved_at", Kind: Time, Queried: true},
			{Name: "follow_up_due", Kind: Time},
			{Name: "follow_up_method", Kind: Enum, Values: FollowUpMethods},
			{Name: "satisfaction", Kind: Int, Min: 1, Max: 5, Queried: true},
			{Name: "follow_up_notes", Kind: String},
			{Name: "followed_up_at", Kind: Time},
			{Name: "followed_up_by", Kind: String},
			{Name: "result_summary", Kind: String},
			{Name: "closed_at", Kind: Time},
			timelineField,
		},
		StateField: "stage",
		Machine:    fieldsync.ComplaintTransitions,
		Actions: []Action{
			{Name: "clarify", Args: []Field{{Name: "category", Kind: Enum, Values: ComplaintCategories}, notes[0]},
				Apply: func(a *ActionContext) error {
					if c, ok := a.Args["category"]; ok {
						a.Record.Set("category", c)
					}
					a.Record.Set("valid", true)
					return logStage(a, argString(a, "notes"))
				}},
			{Name: "invalidate", Args: reason, Apply: func(a *ActionContext) error {
				a.Record.Set("valid", false)
				a.Record.Set("validity_reason", a.Args["reason"])
				a.Record.Set("result_summary", a.Args["reason"])
				a.Record.Set("closed_at", a.Now)
				return logStage(a, argString(a, "reason"))
			}},
			{Name: "start_resolving", Args: notes, Apply: func(a *ActionContext) error { return logStage(a, argString(a, "notes")) }},
			{Name: "resolve", Args: notes, Apply: func(a *ActionContext) error {
				a.Record.Set("resolved_at", a.Now)
				a.Record.Set("follow_up_due", a.Now.Add(fieldsync.DefaultStageDeadlines[fieldsync.StageFollowUp]))
				return logStage(a, argString(a, "notes"))
			}},
			{Name: "record_follow_up", Args: []Field{
				{Name: "method", Kind: Enum, Values: FollowUpMethods, Required: true},
				{Name: "satisfaction", Kind: Int, Min: 1, Max: 5, Required: true}, notes[0]},
				Apply: func(a *ActionContext) error {
					r := a.Record
					r.Set("follow_up_method", a.Args["method"])
					r.Set("satisfaction", a.Args["satisfaction"])
					r.Set("follow_up_notes", a.Args["notes"])
					r.Set("followed_up_at", a.Now)
					r.Set("followed_up_by", a.Caller.UserID)
					return logStage(a, argString(a, "notes"))
				}},
			{Name: "escalate", Args: reason, Apply: escalateComplaint},
			{Name: "close", Args: []Field{{Name: "result_summary", Kind: String, Max: 4000, Required: true}},
				Apply: func(a *ActionContext) error {
					if a.Record.Get("followed_up_at") == nil {
						return fieldsync.Errorf(fieldsync.EInvalidTransit, "record the follow-up visit before closing")
					}
					a.Record.Set("result_summary", a.Args["result_summary"])
					a.Record.Set("closed_at", a.Now)
					return logStage(a, "")
				}},
			{Name: "create_work_order", Args: []Field{
				{Name: "work_order_id", Kind: UUID, Required: true},
				{Name: "title", Kind: String, Max: 200, Required: true},
				{Name: "department", Kind: Enum, Values: Departments},
				{Name: "priority", Kind: Enum, Values: Priorities},
				{Name: "category", Kind: Enum, Values: Categories},
				{Name: "description", Kind: String, Max: 4000},
				{Name: "assignee_id", Kind: UUID}},
				Apply: func(a *ActionContext) error {
					r := a.Record
					set := map[string]any{"source": "complaint", "complaint_ids": []string{r.ID}, "description": r.GetString("content")}
					for _, f := range []string{"owner_name", "owner_phone", "building", "unit"} {
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
					return logStage(a, "work order "+o.ID)
				}},
		},
		Compute: computeComplaint,
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
func prevStage(r *Record) string {
	if s := r.GetString("deadline_stage"); s != "" {
		return s
	}
	return fieldsync.StageReceived
}

func logStage(a *ActionContext, note string) error {
	logAction(a, "stage", prevStage(a.Record), note)
	return nil
}

// escalateComplaint raises an unsatisfied owner's complaint one level (1:
// supervisor, 2: upper department) with a new reply deadline.
func escalateComplaint(a *ActionContext) error {
	r := a.Record
	level, _ := r.Get("escalation_level").(int64)
	if level >= fieldsync.MaxEscalation {
		return fieldsync.Errorf(fieldsync.EInvalidTransit, "the complaint is already at the highest escalation level %d", level)
	}
	level++
	replyBy := a.Now.Add(fieldsync.EscalationDeadline)
	from := prevStage(r)
	r.Set("escalation_level", level)
	r.Set("escalated_to", fieldsync.ComplaintEscalationTargets[level])
	r.Set("reply_by", replyBy)
	r.Set("stage_entered_at", a.Now)
	r.Set("deadline_stage", r.GetString("stage"))
	r.Append("escalations", map[string]any{"level": level, "at": a.Now.UTC().Format(time.RFC3339Nano), "by": a.Caller.UserID,
		"reason": a.Args["reason"], "reply_by": replyBy.UTC().Format(time.RFC3339Nano)})
	logAction(a, "stage", from, argString(a, "reason"))
	return nil
}

// computeComplaint sets each stage's reply deadline when the stage changes
// and the overdue flag at now.
func computeComplaint(r *Record, now time.Time) {
	stage := r.GetString("stage")
	if r.Version == 1 && r.Get("timeline") == nil {
		r.Append("timeline", timelineEntry(r.CreatedAt, r.CreatedBy, "create", "", stage, ""))
	}
	if r.GetString("deadline_stage") != stage {
		r.Set("deadline_stage", stage)
		r.Set("stage_entered_at", now)
		if d, ok := fieldsync.DefaultStageDeadlines[stage]; ok {
			r.Set("reply_by", now.Add(d))
		} else {
			r.Set("reply_by", nil)
		}
	}
	by := timeOf(r, "reply_by")
	r.Set("overdue", stage != fieldsync.StageClosed && !by.IsZero() && now.After(by))
}
