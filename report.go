package fieldsync

import (
	"context"
	"time"
)

// ReportQuery selects the records a report counts: one site, created in [From, To).
type ReportQuery struct {
	SiteID string
	From   time.Time
	To     time.Time
}

// MaxReportSpan bounds a report's period.
const MaxReportSpan = 366 * 24 * time.Hour

// MinReportTime is the earliest from or to a report accepts (the Unix epoch):
// no record is older, and an earlier time — Go's zero time above all — would
// otherwise be mistaken for an absent one or reach the database as a date it
// may not order like the others.
var MinReportTime = time.Unix(0, 0).UTC()

// Report is the periodic review of one collection at one site (PRODUCT.md §8).
type Report struct {
	SiteID string    `json:"site_id"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Total  int64     `json:"total"`
	// ByCategory and ByState count records per category and per stage (complaints) or status (work orders).
	ByCategory map[string]int64 `json:"by_category"`
	ByState    map[string]int64 `json:"by_state"`
	Overdue    int64            `json:"overdue"`
	Escalated  int64            `json:"escalated"`
	// Rated is how many records carry a satisfaction score; AvgSatisfaction their mean (null when none).
	Rated           int64    `json:"rated"`
	AvgSatisfaction *float64 `json:"avg_satisfaction"`
	// Resolved is how many were resolved; MedianResolveSeconds the median time from creation to resolution (null when none).
	Resolved             int64    `json:"resolved"`
	MedianResolveSeconds *float64 `json:"median_resolve_seconds"`
}

// ReportService computes the customer-service reports.
type ReportService interface {
	// ComplaintReport counts complaints; forbidden unless CanReport, invalid_input for a bad query.
	ComplaintReport(ctx context.Context, q ReportQuery) (*Report, error)
	// WorkOrderReport counts work orders; forbidden unless CanReport, invalid_input for a bad query.
	WorkOrderReport(ctx context.Context, q ReportQuery) (*Report, error)
}
