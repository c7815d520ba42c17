package fieldsync

import (
	"strings"
	"time"
)

// Complaint stages (PRODUCT.md): received → clarifying → resolving → follow_up → closed.
const (
	StageReceived   = "received"
	StageClarifying = "clarifying"
	StageResolving  = "resolving"
	StageFollowUp   = "follow_up"
	StageClosed     = "closed"
)

// ComplaintTransitions is the complaint process. `invalidate` answers and closes
// an invalid complaint with a reason; `escalate` sends an unsatisfied owner's
// complaint back to resolving one level up (0 → 1 supervisor, 1 → 2 upper department).
var ComplaintTransitions = []Transition{
	{Action: "clarify", From: []string{StageReceived}, To: StageClarifying, Roles: DeskRoles},
	{Action: "invalidate", From: []string{StageReceived, StageClarifying}, To: StageClosed, Roles: DeskRoles},
	{Action: "start_resolving", From: []string{StageClarifying}, To: StageResolving, Roles: DeskRoles},
	{Action: "resolve", From: []string{StageResolving}, To: StageFollowUp, Roles: DeskRoles},
	{Action: "record_follow_up", From: []string{StageFollowUp}, To: StageFollowUp, Roles: DeskRoles},
	{Action: "escalate", From: []string{StageResolving, StageFollowUp}, To: StageResolving, Roles: DeskRoles},
	{Action: "close", From: []string{StageFollowUp}, To: StageClosed, Roles: DeskRoles},
	// create_work_order dispatches another department: the complaint is being resolved.
	{Action: "create_work_order", From: []string{StageClarifying, StageResolving}, To: StageResolving, Roles: DeskRoles},
	// A closed complaint changes only through a supervisor's reopen.
	{Action: "reopen", From: []string{StageClosed}, To: StageResolving, Roles: SupervisoryRoles},
}

// DefaultStageDeadlines bound how long a complaint may stay in a stage before it is overdue.
var DefaultStageDeadlines = map[string]time.Duration{
	StageReceived:   2 * time.Hour,
	StageClarifying: 24 * time.Hour,
	StageResolving:  72 * time.Hour,
	StageFollowUp:   72 * time.Hour, // the follow-up visit is due within 3 days of resolution
}

// EscalationDeadline is the new reply deadline each escalation sets.
const EscalationDeadline = 24 * time.Hour

// MaxEscalation is the highest escalation level (upper department).
const MaxEscalation = 2

// ComplaintEscalationTargets name who handles a complaint at each escalation level.
var ComplaintEscalationTargets = []string{"customer_service", "supervisor", "upper_department"}

// EscalationRoles are the roles of the person each escalation level reaches:
// level 1 a supervisor of the site, level 2 a manager (the upper department).
var EscalationRoles = []Role{"", RoleSupervisor, RoleManager}

// MaskPhone hides all but the last four digits of a phone number, for field roles.
func MaskPhone(p string) string {
	if p == "" {
		return ""
	}
	digits := 0
	for _, r := range p {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	keep := 4
	if digits <= keep {
		return strings.Repeat("*", len([]rune(p)))
	}
	var b strings.Builder
	seen := 0
	for _, r := range p {
		if r >= '0' && r <= '9' {
			seen++
			if seen <= digits-keep {
				b.WriteRune('*')
				continue
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

// SeesOwnerContact reports whether a role may read owners' phone numbers.
func SeesOwnerContact(r Role) bool { return r.IsDesk() }
