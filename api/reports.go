package api

import (
	"context"
	"strings"
	"time"

	"fieldsync"

	"github.com/gofiber/fiber/v2"
)

// DefaultReportSpan is the period of a report whose from is omitted.
const DefaultReportSpan = 30 * 24 * time.Hour

// Customer-service reports (cs_agent, supervisor and admin of the site; the
// report service checks).
func (s *Server) registerReportRoutes(r fiber.Router) {
	g := r.Group("/reports", requires("reports", s.opts.Reports != nil))
	g.Get("/complaints", s.handleReport(func(ctx context.Context, q fieldsync.ReportQuery) (*fieldsync.Report, error) {
		return s.opts.Reports.ComplaintReport(ctx, q)
	}))
	g.Get("/work-orders", s.handleReport(func(ctx context.Context, q fieldsync.ReportQuery) (*fieldsync.Report, error) {
		return s.opts.Reports.WorkOrderReport(ctx, q)
	}))
}

func (s *Server) handleReport(run func(context.Context, fieldsync.ReportQuery) (*fieldsync.Report, error)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		q, err := s.reportQuery(c)
		if err != nil {
			return err
		}
		csvOut, err := wantCSV(c)
		if err != nil {
			return err
		}
		rep, err := run(c.UserContext(), q)
		if err != nil {
			return err
		}
		if csvOut {
			return sendCSV(c, "report.csv", reportCSV(rep))
		}
		return c.JSON(rep)
	}
}

// reportQuery reads site (required), from and to (RFC 3339, not before
// fieldsync.MinReportTime; to defaults to now, from to DefaultReportSpan before
// to). A time sent is honoured or refused, never replaced by a default: Go's
// zero time, 0001-01-01, is a time the caller sent, not an absent one.
func (s *Server) reportQuery(c *fiber.Ctx) (fieldsync.ReportQuery, error) {
	q := fieldsync.ReportQuery{SiteID: strings.Clone(c.Query("site"))}
	if q.SiteID == "" || len(q.SiteID) > 64 {
		return q, fieldsync.FieldErrorf("site", "required, at most 64 characters")
	}
	return s.reportSpan(c, q)
}

// reportSpan reads from and to into q (see reportQuery).
func (s *Server) reportSpan(c *fiber.Ctx, q fieldsync.ReportQuery) (fieldsync.ReportQuery, error) {
	q.To = s.opts.Now()
	set := map[string]bool{}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		v := c.Query(p.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return q, fieldsync.FieldErrorf(p.name, "want an RFC 3339 time with zone")
		}
		if t.Before(fieldsync.MinReportTime) {
			return q, fieldsync.FieldErrorf(p.name, "must be %s or later", fieldsync.MinReportTime.Format(time.RFC3339))
		}
		*p.dst = t
		set[p.name] = true
	}
	if !set["from"] {
		q.From = q.To.Add(-DefaultReportSpan)
		if q.From.Before(fieldsync.MinReportTime) {
			q.From = fieldsync.MinReportTime
		}
	}
	return q, nil
}
