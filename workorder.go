package fieldsync

import (
	"slices"
	"time"
)

// Work order statuses (PRODUCT.md): open → assigned → accepted → in_progress ⇄
// on_hold → completed → verified; cancelled from any state before completed;
// reopen sends a completed or verified order back to assigned.
const (
	WOOpen       = "open"
	WOAssigned   = "assigned"
	WOAccepted   = "accepted"
	WOInProgress = "in_progress"
	WOOnHold     = "on_hold"
	WOCompleted  = "completed"
	WOVerified   = "verified"
	WOCancelled  = "cancelled"
)

// Priorities of a work order.
const (
	PriorityUrgent = "urgent"
	PriorityNormal = "normal"
	PriorityLow    = "low"
)

// Transition is one allowed move of a state machine: an action taken in one of
// From moves the record to To. Roles may take it; AssigneeOnly restricts it to
// the record's assignee (whatever their role).
type Transition struct {
	Action       string
	From         []string
	To           string
	Roles        []Role
	AssigneeOnly bool
}

// DeskRoles own what the company is measured by (PRODUCT.md: priority,
// department, deadlines, assignment); SupervisoryRoles are a supervisor and above.
var (
	DeskRoles        = []Role{RoleCSAgent, RoleSupervisor, RoleManager, RoleAdmin}
	SupervisoryRoles = []Role{RoleSupervisor, RoleManager, RoleAdmin}
)

// WorkOrderTransitions is the work order state machine of PRODUCT.md.
var WorkOrderTransitions = []Transition{
	{Action: "assign", From: []string{WOOpen, WOAssigned, WOAccepted, WOInProgress, WOOnHold}, To: WOAssigned, Roles: DeskRoles},
	{Action: "accept", From: []string{WOAssigned}, To: WOAccepted, AssigneeOnly: true},
	{Action: "start", From: []string{WOAccepted}, To: WOInProgress, AssigneeOnly: true},
	{Action: "hold", From: []string{WOInProgress}, To: WOOnHold, AssigneeOnly: true},
	{Action: "resume", From: []string{WOOnHold}, To: WOInProgress, AssigneeOnly: true},
	{Action: "complete", From: []string{WOInProgress, WOOnHold}, To: WOCompleted, AssigneeOnly: true},
	{Action: "verify", From: []string{WOCompleted}, To: WOVerified, Roles: DeskRoles},
	{Action: "reopen", From: []string{WOCompleted, WOVerified}, To: WOAssigned, Roles: DeskRoles},
	{Action: "cancel", From: []string{WOOpen, WOAssigned, WOAccepted, WOInProgress, WOOnHold}, To: WOCancelled, Roles: DeskRoles},
}

// Step applies action to a record in state for caller c: it returns the new
// state, forbidden when the caller may not take the action (wrong role, or not
// the assignee), invalid_transition when the state does not allow it.
// The role is checked first: a technician completing an order reassigned to
// someone else is forbidden; completing a cancelled order of theirs is an
// invalid transition.
func Step(machine []Transition, state, action string, c *Caller, assigneeID string) (string, error) {
	var t *Transition
	for i := range machine {
		if machine[i].Action == action {
			t = &machine[i]
			break
		}
	}
	if t == nil {
		return "", &Error{Code: EInvalid, Field: "action", Message: "unknown action " + action}
	}
	if t.AssigneeOnly {
		if c == nil || assigneeID == "" || c.UserID != assigneeID {
			return "", Errorf(EForbidden, "only the assignee may %s this record", action)
		}
	} else if c == nil || !slices.Contains(t.Roles, c.Role) {
		return "", Errorf(EForbidden, "role may not %s this record", action)
	}
	if !slices.Contains(t.From, state) {
		return "", Errorf(EInvalidTransit, "cannot %s a record that is %s", action, state)
	}
	return t.To, nil
}

// SLA is how long a work order of one priority may wait to be responded to
// (accepted) and to be resolved (completed).
type SLA struct {
	RespondWithin time.Duration `json:"respond_within"`
	ResolveWithin time.Duration `json:"resolve_within"`
}

// DefaultSLAs are the common practice of Chinese property management:
// urgent 5 min / 2 h, normal 15 min / 24 h, low 30 min / 3 days. A tenant may override them.
var DefaultSLAs = map[string]SLA{
	PriorityUrgent: {RespondWithin: 5 * time.Minute, ResolveWithin: 2 * time.Hour},
	PriorityNormal: {RespondWithin: 15 * time.Minute, ResolveWithin: 24 * time.Hour},
	PriorityLow:    {RespondWithin: 30 * time.Minute, ResolveWithin: 72 * time.Hour},
}

// Deadlines returns respond-by and resolve-by for an order of priority created at created.
func Deadlines(slas map[string]SLA, priority string, created time.Time) (respondBy, resolveBy time.Time) {
	sla, ok := slas[priority]
	if !ok {
		sla = DefaultSLAs[PriorityNormal]
	}
	return created.Add(sla.RespondWithin), created.Add(sla.ResolveWithin)
}

// Breaches says which deadlines of an order are breached at now: responding is
// breached when the order was not accepted by respondBy (respondedAt zero or
// later), resolving when not completed by resolveBy.
func Breaches(now, respondBy, resolveBy, respondedAt, resolvedAt time.Time) (respondBreached, resolveBreached bool) {
	late := func(deadline, done time.Time) bool {
		if deadline.IsZero() {
			return false
		}
		if done.IsZero() {
			return now.After(deadline)
		}
		return done.After(deadline)
	}
	return late(respondBy, respondedAt), late(resolveBy, resolvedAt)
}
