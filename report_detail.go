package fieldsync

import (
	"context"
	"time"
)

// Report periods.
const (
	PeriodDay   = "day"
	PeriodWeek  = "week" // ISO weeks, from Monday
	PeriodMonth = "month"
)

// MaxReportPeriods bounds the buckets of one period report.
const MaxReportPeriods = 400

// Figures are the counts of one slice of a report: records created in it,
// overdue, resolved (completed), resolved on time (work orders: completed by
// resolve-by), rated and their mean satisfaction (null when none).
type Figures struct {
	Total           int64            `json:"total"`
	ByCategory      map[string]int64 `json:"by_category"`
	Overdue         int64            `json:"overdue"`
	Resolved        int64            `json:"resolved"`
	OnTime          int64            `json:"on_time"`
	Rated           int64            `json:"rated"`
	AvgSatisfaction *float64         `json:"avg_satisfaction"`
}

// ReportPeriod is one day, week or month of a period report, with the change
// of its total against the period before it.
type ReportPeriod struct {
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	PreviousTotal int64     `json:"previous_total"`
	// ChangePercent is (total − previous) / previous × 100; null when the
	// previous period had none.
	ChangePercent *float64 `json:"change_percent"`
	Figures
}

// PeriodReport counts one collection of one site per day, week or month of
// [From, To) in a time zone, and the whole span against the span of the same
// length before it.
type PeriodReport struct {
	Kind          string         `json:"kind"`
	SiteID        string         `json:"site_id"`
	From          time.Time      `json:"from"`
	To            time.Time      `json:"to"`
	Period        string         `json:"period"`
	TZ            string         `json:"tz"`
	Periods       []ReportPeriod `json:"periods"`
	Total         Figures        `json:"total"`
	Previous      Figures        `json:"previous"`
	ChangePercent *float64       `json:"change_percent"`
}

// StaffFigures are one technician's work orders of a report's span: assigned
// (orders created in the span now assigned to them), completed, completed on
// time, rated and their mean satisfaction.
type StaffFigures struct {
	UserID          string   `json:"user_id"`
	Name            string   `json:"name"`
	Assigned        int64    `json:"assigned"`
	Completed       int64    `json:"completed"`
	OnTime          int64    `json:"on_time"`
	Rated           int64    `json:"rated"`
	AvgSatisfaction *float64 `json:"avg_satisfaction"`
}

// StaffReport is the work of each technician at a site.
type StaffReport struct {
	SiteID string         `json:"site_id"`
	From   time.Time      `json:"from"`
	To     time.Time      `json:"to"`
	Staff  []StaffFigures `json:"staff"`
}

// SiteFigures are the figures of one site.
type SiteFigures struct {
	SiteID string `json:"site_id"`
	Figures
}

// SitesReport compares the caller's sites.
type SitesReport struct {
	Kind  string        `json:"kind"`
	From  time.Time     `json:"from"`
	To    time.Time     `json:"to"`
	Sites []SiteFigures `json:"sites"`
}

// ReportRecord is one record behind a report, flattened for a spreadsheet.
type ReportRecord struct {
	ID              string `json:"id"`
	CreatedAt       string `json:"created_at"`
	Title           string `json:"title,omitempty"`
	Category        string `json:"category"`
	State           string `json:"state"`
	Priority        string `json:"priority,omitempty"`
	AssigneeName    string `json:"assignee_name,omitempty"`
	Overdue         bool   `json:"overdue"`
	Escalated       bool   `json:"escalated"`
	ResolvedAt      string `json:"resolved_at,omitempty"`
	ResolveBy       string `json:"resolve_by,omitempty"`
	Satisfaction    int64  `json:"satisfaction,omitempty"`
	EscalationLevel int64  `json:"escalation_level,omitempty"`
}

// ReportDetailService computes the breakdowns a company takes away. Kind is
// CollComplaints or CollWorkOrders. Each returns forbidden unless CanReport
// (for SitesReport: only the caller's sites are counted), invalid_input
// naming the parameter for a bad query.
type ReportDetailService interface {
	// PeriodReport counts kind per period (PeriodDay, PeriodWeek, PeriodMonth) in loc.
	PeriodReport(ctx context.Context, kind string, q ReportQuery, period string, loc *time.Location) (*PeriodReport, error)
	// StaffReport counts each technician's work orders.
	StaffReport(ctx context.Context, q ReportQuery) (*StaffReport, error)
	// SitesReport counts kind per site of the caller.
	SitesReport(ctx context.Context, kind string, from, to time.Time) (*SitesReport, error)
	// ReportRecords lists the records a report counts, oldest first.
	ReportRecords(ctx context.Context, kind string, q ReportQuery) ([]ReportRecord, error)
}
