package api

import (
	"bytes"
	"encoding/csv"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // report time zones (Asia/Shanghai) on hosts without a zone database

	"fieldsync"

	"github.com/gofiber/fiber/v2"
)

// The breakdowns a company takes away: per period with trends, per
// technician, per site, and the records behind a report; each as JSON or,
// with format=csv, as a UTF-8 CSV with a BOM (so Excel opens Chinese text).
func (s *Server) registerReportExportRoutes(r fiber.Router) {
	g := r.Group("/reports", requires("reports", s.opts.Reports != nil))
	for path, kind := range map[string]string{"/complaints": fieldsync.CollComplaints, "/work-orders": fieldsync.CollWorkOrders} {
		g.Get(path+"/periods", s.handlePeriodReport(kind))
		g.Get(path+"/sites", s.handleSitesReport(kind))
		g.Get(path+"/records", s.handleReportRecords(kind))
	}
	g.Get("/work-orders/staff", s.handleStaffReport)
}

func (s *Server) details() (fieldsync.ReportDetailService, error) {
	d, ok := s.opts.Reports.(fieldsync.ReportDetailService)
	if !ok {
		return nil, fieldsync.Errorf(fieldsync.EUnavailable, "report breakdowns not configured")
	}
	return d, nil
}

// reportRequest reads what every breakdown handler needs: the detail
// service, the query (read by query: the report's own or a span) and whether
// CSV is wanted.
func (s *Server) reportRequest(c *fiber.Ctx, query func(*fiber.Ctx) (fieldsync.ReportQuery, error)) (fieldsync.ReportDetailService, fieldsync.ReportQuery, bool, error) {
	d, err := s.details()
	if err != nil {
		return nil, fieldsync.ReportQuery{}, false, err
	}
	q, err := query(c)
	if err != nil {
		return nil, q, false, err
	}
	csvOut, err := wantCSV(c)
	return d, q, csvOut, err
}

// wantCSV reads format: json (default) or csv.
func wantCSV(c *fiber.Ctx) (bool, error) {
	switch c.Query("format") {
	case "", "json":
		return false, nil
	case "csv":
		return true, nil
	}
	return false, fieldsync.FieldErrorf("format", "want json or csv")
}

// sendCSV answers rows as a UTF-8 CSV file with a byte-order mark.
func sendCSV(c *fiber.Ctx, name string, rows [][]string) error {
	var b bytes.Buffer
	b.WriteString("\xEF\xBB\xBF")
	w := csv.NewWriter(&b)
	for _, row := range rows {
		for i, cell := range row {
			row[i] = csvSafe(cell)
		}
	}
	if err := w.WriteAll(rows); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	return c.Send(b.Bytes())
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return "'" + s
		}
	}
	return s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func ftoa(f *float64) string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(*f, 'f', 2, 64)
}

func (s *Server) reportLocation(c *fiber.Ctx) (*time.Location, error) {
	tz := c.Query("tz", "UTC")
	if len(tz) > 64 {
		return nil, fieldsync.FieldErrorf("tz", "an IANA time zone such as Asia/Shanghai")
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "Local" || tz == "" {
		return nil, fieldsync.FieldErrorf("tz", "an IANA time zone such as Asia/Shanghai")
	}
	return loc, nil
}

func (s *Server) handlePeriodReport(kind string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		d, q, csvOut, err := s.reportRequest(c, s.reportQuery)
		if err != nil {
			return err
		}
		loc, err := s.reportLocation(c)
		if err != nil {
			return err
		}
		rep, err := d.PeriodReport(c.UserContext(), kind, q, c.Query("period", fieldsync.PeriodDay), loc)
		if err != nil {
			return err
		}
		if !csvOut {
			return c.JSON(rep)
		}
		cats := categoriesOf(func(yield func(fieldsync.Figures)) {
			for _, p := range rep.Periods {
				yield(p.Figures)
			}
		})
		head := append([]string{"period_start", "period_end", "total", "previous_total", "change_percent", "overdue", "resolved", "on_time", "rated", "avg_satisfaction"}, prefixed("category:", cats)...)
		rows := [][]string{head}
		for _, p := range rep.Periods {
			row := []string{p.Start.In(loc).Format(time.RFC3339), p.End.In(loc).Format(time.RFC3339), itoa(p.Total), itoa(p.PreviousTotal),
				ftoa(p.ChangePercent), itoa(p.Overdue), itoa(p.Resolved), itoa(p.OnTime), itoa(p.Rated), ftoa(p.AvgSatisfaction)}
			for _, k := range cats {
				row = append(row, itoa(p.ByCategory[k]))
			}
			rows = append(rows, row)
		}
		return sendCSV(c, kind+"-"+rep.Period+".csv", rows)
	}
}

func prefixed(p string, ks []string) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = p + k
	}
	return out
}

// categoriesOf lists the categories of figures, sorted.
func categoriesOf(each func(yield func(fieldsync.Figures))) []string {
	seen := map[string]bool{}
	var out []string
	each(func(f fieldsync.Figures) {
		for k := range f.ByCategory {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	})
	sort.Strings(out)
	return out
}

func (s *Server) handleStaffReport(c *fiber.Ctx) error {
	d, q, csvOut, err := s.reportRequest(c, s.reportQuery)
	if err != nil {
		return err
	}
	rep, err := d.StaffReport(c.UserContext(), q)
	if err != nil {
		return err
	}
	if !csvOut {
		return c.JSON(rep)
	}
	rows := [][]string{{"user_id", "name", "assigned", "completed", "on_time", "rated", "avg_satisfaction"}}
	for _, st := range rep.Staff {
		rows = append(rows, []string{st.UserID, st.Name, itoa(st.Assigned), itoa(st.Completed), itoa(st.OnTime), itoa(st.Rated), ftoa(st.AvgSatisfaction)})
	}
	return sendCSV(c, "work-orders-staff.csv", rows)
}

func (s *Server) handleSitesReport(kind string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		d, q, csvOut, err := s.reportRequest(c, func(c *fiber.Ctx) (fieldsync.ReportQuery, error) {
			return s.reportSpan(c, fieldsync.ReportQuery{})
		})
		if err != nil {
			return err
		}
		rep, err := d.SitesReport(c.UserContext(), kind, q.From, q.To)
		if err != nil {
			return err
		}
		if !csvOut {
			return c.JSON(rep)
		}
		cats := categoriesOf(func(yield func(fieldsync.Figures)) {
			for _, st := range rep.Sites {
				yield(st.Figures)
			}
		})
		rows := [][]string{append([]string{"site_id", "total", "overdue", "resolved", "on_time", "rated", "avg_satisfaction"}, prefixed("category:", cats)...)}
		for _, st := range rep.Sites {
			row := []string{st.SiteID, itoa(st.Total), itoa(st.Overdue), itoa(st.Resolved), itoa(st.OnTime), itoa(st.Rated), ftoa(st.AvgSatisfaction)}
			for _, k := range cats {
				row = append(row, itoa(st.ByCategory[k]))
			}
			rows = append(rows, row)
		}
		return sendCSV(c, kind+"-sites.csv", rows)
	}
}

type reportRecordsResponse struct {
	Records []fieldsync.ReportRecord `json:"records"`
}

func (s *Server) handleReportRecords(kind string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		d, q, csvOut, err := s.reportRequest(c, s.reportQuery)
		if err != nil {
			return err
		}
		recs, err := d.ReportRecords(c.UserContext(), kind, q)
		if err != nil {
			return err
		}
		if !csvOut {
			return c.JSON(reportRecordsResponse{Records: recs})
		}
		rows := [][]string{{"id", "created_at", "title", "category", "state", "priority", "assignee_name", "overdue", "escalated", "escalation_level",
			"resolved_at", "resolve_by", "satisfaction"}}
		for _, r := range recs {
			sat := ""
			if r.Satisfaction > 0 {
				sat = itoa(r.Satisfaction)
			}
			rows = append(rows, []string{r.ID, r.CreatedAt, r.Title, r.Category, r.State, r.Priority, r.AssigneeName, strconv.FormatBool(r.Overdue),
				strconv.FormatBool(r.Escalated), itoa(r.EscalationLevel), r.ResolvedAt, r.ResolveBy, sat})
		}
		return sendCSV(c, kind+"-records.csv", rows)
	}
}

// reportCSV renders a summary report as figure,value rows.
func reportCSV(rep *fieldsync.Report) [][]string {
	avg, med := ftoa(rep.AvgSatisfaction), ftoa(rep.MedianResolveSeconds)
	rows := [][]string{{"figure", "value"}, {"site_id", rep.SiteID}, {"from", rep.From.Format(time.RFC3339)}, {"to", rep.To.Format(time.RFC3339)},
		{"total", itoa(rep.Total)}, {"overdue", itoa(rep.Overdue)}, {"escalated", itoa(rep.Escalated)}, {"rated", itoa(rep.Rated)},
		{"avg_satisfaction", avg}, {"resolved", itoa(rep.Resolved)}, {"median_resolve_seconds", med}}
	for _, m := range []struct {
		prefix string
		by     map[string]int64
	}{{"category:", rep.ByCategory}, {"state:", rep.ByState}} {
		var ks []string
		for k := range m.by {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		for _, k := range ks {
			rows = append(rows, []string{m.prefix + k, itoa(m.by[k])})
		}
	}
	return rows
}
