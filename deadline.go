package fieldsync

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// MaxDeadlineMinutes bounds every deadline setting (one year).
const MaxDeadlineMinutes = 525600

// SLAMinutes are a work-order priority's deadlines in minutes: to respond
// (accept) and to resolve (complete). Zero: not set at this level.
type SLAMinutes struct {
	RespondMinutes int64 `json:"respond_minutes,omitempty"`
	ResolveMinutes int64 `json:"resolve_minutes,omitempty"`
}

// DeadlineSettings are the deadlines a company sets, for the whole tenant or
// for one site; a zero value is "not set here" (the tenant's, else the
// default, applies). Effective settings (EffectiveDeadlines) have every
// value. A record keeps the effective values of its creation (its
// deadline_policy), so a change affects records created after it only.
type DeadlineSettings struct {
	// WorkOrders by priority (urgent, normal, low).
	WorkOrders map[string]SLAMinutes `json:"work_orders,omitempty"`
	// ComplaintStages are each complaint stage's reply deadline (received,
	// clarifying, resolving, follow_up), measured from entering the stage.
	ComplaintStages map[string]int64 `json:"complaint_stages_minutes,omitempty"`
	// EscalationMinutes is the reply deadline each escalation of a complaint sets.
	EscalationMinutes int64 `json:"escalation_minutes,omitempty"`
	// CallbackMinutes is when the desk calls an owner back after registering
	// a complaint, unless it agrees another time with the owner (the
	// complaint's callback_minutes).
	CallbackMinutes int64 `json:"callback_minutes,omitempty"`
}

// DefaultCallback is the default callback time of a complaint.
const DefaultCallback = 24 * time.Hour

// DefaultDeadlineSettings are the deadlines of a tenant that set none:
// DefaultSLAs, DefaultStageDeadlines, EscalationDeadline and DefaultCallback.
func DefaultDeadlineSettings() DeadlineSettings {
	d := DeadlineSettings{WorkOrders: map[string]SLAMinutes{}, ComplaintStages: map[string]int64{},
		EscalationMinutes: int64(EscalationDeadline / time.Minute), CallbackMinutes: int64(DefaultCallback / time.Minute)}
	for p, s := range DefaultSLAs {
		d.WorkOrders[p] = SLAMinutes{int64(s.RespondWithin / time.Minute), int64(s.ResolveWithin / time.Minute)}
	}
	for st, v := range DefaultStageDeadlines {
		d.ComplaintStages[st] = int64(v / time.Minute)
	}
	return d
}

// Over returns base with every value set in s replacing base's.
func (s DeadlineSettings) Over(base DeadlineSettings) DeadlineSettings {
	out := DeadlineSettings{WorkOrders: map[string]SLAMinutes{}, ComplaintStages: map[string]int64{},
		EscalationMinutes: base.EscalationMinutes, CallbackMinutes: base.CallbackMinutes}
	for p, v := range base.WorkOrders {
		out.WorkOrders[p] = v
	}
	for p, v := range s.WorkOrders {
		o := out.WorkOrders[p]
		if v.RespondMinutes > 0 {
			o.RespondMinutes = v.RespondMinutes
		}
		if v.ResolveMinutes > 0 {
			o.ResolveMinutes = v.ResolveMinutes
		}
		out.WorkOrders[p] = o
	}
	for st, v := range base.ComplaintStages {
		out.ComplaintStages[st] = v
	}
	for st, v := range s.ComplaintStages {
		if v > 0 {
			out.ComplaintStages[st] = v
		}
	}
	if s.EscalationMinutes > 0 {
		out.EscalationMinutes = s.EscalationMinutes
	}
	if s.CallbackMinutes > 0 {
		out.CallbackMinutes = s.CallbackMinutes
	}
	return out
}

// DeadlineStages are the complaint stages that have a reply deadline.
var DeadlineStages = []string{StageReceived, StageClarifying, StageResolving, StageFollowUp}

// Validate checks settings as sent: known priorities and stages, minutes in
// [0, MaxDeadlineMinutes] (0: not set here). invalid_input names the field.
func (s DeadlineSettings) Validate() error {
	check := func(field string, v int64) error {
		if v < 0 || v > MaxDeadlineMinutes {
			return FieldErrorf(field, "minutes in [0, %d] (0: not set here)", MaxDeadlineMinutes)
		}
		return nil
	}
	for p, v := range s.WorkOrders {
		if p != PriorityUrgent && p != PriorityNormal && p != PriorityLow {
			return FieldErrorf("work_orders."+p, "unknown priority; want urgent, normal or low")
		}
		if err := check("work_orders."+p+".respond_minutes", v.RespondMinutes); err != nil {
			return err
		}
		if err := check("work_orders."+p+".resolve_minutes", v.ResolveMinutes); err != nil {
			return err
		}
		if v.RespondMinutes > 0 && v.ResolveMinutes > 0 && v.ResolveMinutes < v.RespondMinutes {
			return FieldErrorf("work_orders."+p+".resolve_minutes", "must not be shorter than respond_minutes")
		}
	}
	for st, v := range s.ComplaintStages {
		if !slices.Contains(DeadlineStages, st) {
			return FieldErrorf("complaint_stages_minutes."+st, "unknown stage; want received, clarifying, resolving or follow_up")
		}
		if err := check("complaint_stages_minutes."+st, v); err != nil {
			return err
		}
	}
	if err := check("escalation_minutes", s.EscalationMinutes); err != nil {
		return err
	}
	return check("callback_minutes", s.CallbackMinutes)
}

// Flat returns effective settings as named minutes, the form a record keeps
// (its deadline_policy): "work_order.<priority>.respond" and ".resolve",
// "complaint.<stage>", "escalation", "callback".
func (s DeadlineSettings) Flat() map[string]int64 {
	out := map[string]int64{"escalation": s.EscalationMinutes, "callback": s.CallbackMinutes}
	for p, v := range s.WorkOrders {
		out[fmt.Sprintf("work_order.%s.respond", p)] = v.RespondMinutes
		out[fmt.Sprintf("work_order.%s.resolve", p)] = v.ResolveMinutes
	}
	for st, v := range s.ComplaintStages {
		out["complaint."+st] = v
	}
	return out
}

// DeadlineFinder finds the deadline settings in effect for a site: the
// defaults, overridden by the tenant's, overridden by the site's.
type DeadlineFinder interface {
	// EffectiveDeadlines returns the effective settings of tenant's site; unavailable when the store is down.
	EffectiveDeadlines(ctx context.Context, tenant, site string) (DeadlineSettings, error)
}

// DeadlineSettingsView is what the settings endpoint answers: the settings
// made at one level (the tenant, or a site) and the effective result there.
type DeadlineSettingsView struct {
	SiteID    string           `json:"site_id,omitempty"`
	Settings  DeadlineSettings `json:"settings"`
	Effective DeadlineSettings `json:"effective"`
	UpdatedAt *time.Time       `json:"updated_at,omitempty"`
	UpdatedBy string           `json:"updated_by,omitempty"`
}

// SettingsService reads and changes the company's deadline settings.
type SettingsService interface {
	// DeadlineSettings returns the settings of the caller's tenant (site "")
	// or of one site; forbidden unless the caller is of the desk at that
	// site (any site's for the tenant level) or an admin.
	DeadlineSettings(ctx context.Context, site string) (*DeadlineSettingsView, error)
	// SetDeadlineSettings replaces the settings of the tenant (site "") or of
	// one site; forbidden unless admin, invalid_input naming the field.
	SetDeadlineSettings(ctx context.Context, site string, s DeadlineSettings) (*DeadlineSettingsView, error)
}
