package mongodb

import (
	"context"
	"slices"
	"sort"
	"time"

	"fieldsync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

var _ fieldsync.ReportDetailService = (*Reports)(nil)

// The breakdowns read each matching record's report fields with one find
// (no $group at all: the embedded database gets several accumulators wrong)
// and count in Go; like the reports, they are O(records of the span).

// reportRow is what the breakdowns read of a record.
type reportRow struct {
	ID        string         `bson:"_id"`
	Site      string         `bson:"s"`
	CreatedAt time.Time      `bson:"ca"`
	F         map[string]any `bson:"f"`
}

func (r reportRow) str(k string) string { s, _ := r.F[k].(string); return s }

func (r reportRow) num(k string) int64 {
	switch x := r.F[k].(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case float64:
		return int64(x)
	}
	return 0
}

func (r reportRow) time(k string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, r.str(k))
	return t
}

// recordID is the record's id (the stored _id is tenant/collection/id).
func (r reportRow) recordID() string {
	for i := len(r.ID) - 1; i >= 0; i-- {
		if r.ID[i] == '/' {
			return r.ID[i+1:]
		}
	}
	return r.ID
}

func shapeOf(kind string) (reportShape, error) {
	switch kind {
	case fieldsync.CollComplaints:
		return complaintShape, nil
	case fieldsync.CollWorkOrders:
		return workOrderShape, nil
	}
	return reportShape{}, fieldsync.FieldErrorf("kind", "want complaints or work_orders")
}

// checkSpan validates a report's period like the reports do.
func checkSpan(from, to time.Time) error {
	if from.Before(fieldsync.MinReportTime) {
		return fieldsync.FieldErrorf("from", "must be %s or later", fieldsync.MinReportTime.Format(time.RFC3339))
	}
	if !to.After(from) {
		return fieldsync.FieldErrorf("to", "must be after from")
	}
	if to.Sub(from) > fieldsync.MaxReportSpan {
		return fieldsync.FieldErrorf("from", "a report spans at most %d days", int(fieldsync.MaxReportSpan.Hours()/24))
	}
	return nil
}

// rows reads the report fields of kind's live records of tenant at sites created in [from, to).
func (r *Reports) rows(ctx context.Context, kind, tenant string, sites []string, from, to time.Time) ([]reportRow, error) {
	f := bson.M{"t": tenant, "c": kind, "del": false, "ca": bson.M{"$gte": from, "$lt": to}}
	if len(sites) == 1 {
		f["s"] = sites[0]
	} else {
		f["s"] = bson.M{"$in": sites}
	}
	cur, err := r.Store.DB.Collection(recordsOf(kind)).Find(ctx, f, options.Find().SetProjection(bson.M{"s": 1, "ca": 1, "f": 1}))
	if err != nil {
		return nil, mapError(err)
	}
	var out []reportRow
	if err := cur.All(ctx, &out); err != nil {
		return nil, mapError(err)
	}
	return out, nil
}

// figures counts rows.
func figures(rows []reportRow, shape reportShape) fieldsync.Figures {
	f := fieldsync.Figures{ByCategory: map[string]int64{}}
	var sum int64
	for _, r := range rows {
		f.Total++
		c := r.str("category")
		if c == "" {
			c = "none"
		}
		f.ByCategory[c]++
		if r.F["overdue"] == true {
			f.Overdue++
		}
		if done := r.time(shape.resolved); !done.IsZero() {
			f.Resolved++
			if by := r.time("resolve_by"); shape.coll == fieldsync.CollWorkOrders && !by.IsZero() && !done.After(by) {
				f.OnTime++
			}
		}
		if s := r.num("satisfaction"); s >= 1 {
			f.Rated++
			sum += s
		}
	}
	if f.Rated > 0 {
		avg := float64(sum) / float64(f.Rated)
		f.AvgSatisfaction = &avg
	}
	return f
}

func change(now, prev int64) *float64 {
	if prev == 0 {
		return nil
	}
	c := float64(now-prev) / float64(prev) * 100
	return &c
}

// periodStart is the start of the day, ISO week or month holding t in loc.
func periodStart(t time.Time, period string, loc *time.Location) time.Time {
	t = t.In(loc)
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	switch period {
	case fieldsync.PeriodWeek:
		wd := (int(d.Weekday()) + 6) % 7 // Monday 0
		return d.AddDate(0, 0, -wd)
	case fieldsync.PeriodMonth:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
	}
	return d
}

func nextPeriod(t time.Time, period string) time.Time {
	switch period {
	case fieldsync.PeriodWeek:
		return t.AddDate(0, 0, 7)
	case fieldsync.PeriodMonth:
		return t.AddDate(0, 1, 0)
	}
	return t.AddDate(0, 0, 1)
}

// PeriodReport implements fieldsync.ReportDetailService. Periods are the
// days, weeks or months of loc overlapping [from, to), the first and last
// cut to the span; each is compared with the whole period before it.
func (r *Reports) PeriodReport(ctx context.Context, kind string, q fieldsync.ReportQuery, period string, loc *time.Location) (*fieldsync.PeriodReport, error) {
	shape, err := shapeOf(kind)
	if err != nil {
		return nil, err
	}
	c := fieldsync.CallerFromContext(ctx)
	if !fieldsync.CanReport(c, q.SiteID) {
		return nil, fieldsync.Errorf(fieldsync.EForbidden, "reports of this site are for its customer service, supervisors and admins")
	}
	if err := checkSpan(q.From, q.To); err != nil {
		return nil, err
	}
	if period != fieldsync.PeriodDay && period != fieldsync.PeriodWeek && period != fieldsync.PeriodMonth {
		return nil, fieldsync.FieldErrorf("period", "want day, week or month")
	}
	if loc == nil {
		loc = time.UTC
	}
	first := periodStart(q.From, period, loc)
	var bounds []time.Time
	for t := first; t.Before(q.To); t = nextPeriod(t, period) {
		bounds = append(bounds, t)
		if len(bounds) > fieldsync.MaxReportPeriods {
			return nil, fieldsync.FieldErrorf("period", "at most %d periods per report; choose a longer period", fieldsync.MaxReportPeriods)
		}
	}
	// One read from the period before the first (its comparison) or the span
	// of the same length before from, whichever is earlier, to to.
	prevFirst := first.AddDate(0, 0, -7)
	switch period {
	case fieldsync.PeriodDay:
		prevFirst = first.AddDate(0, 0, -1)
	case fieldsync.PeriodMonth:
		prevFirst = first.AddDate(0, -1, 0)
	}
	prevSpan := q.From.Add(-q.To.Sub(q.From))
	start := prevFirst
	if prevSpan.Before(start) {
		start = prevSpan
	}
	if start.Before(fieldsync.MinReportTime) {
		start = fieldsync.MinReportTime
	}
	rows, err := r.rows(ctx, kind, c.TenantID, []string{q.SiteID}, start, q.To)
	if err != nil {
		return nil, err
	}
	in := func(from, to time.Time) []reportRow {
		var out []reportRow
		for _, row := range rows {
			if !row.CreatedAt.Before(from) && row.CreatedAt.Before(to) {
				out = append(out, row)
			}
		}
		return out
	}
	out := &fieldsync.PeriodReport{Kind: kind, SiteID: q.SiteID, From: q.From.UTC(), To: q.To.UTC(), Period: period, TZ: loc.String(),
		Periods: []fieldsync.ReportPeriod{}}
	prevTotal := int64(len(in(prevFirst, first)))
	for i, b := range bounds {
		end := nextPeriod(b, period)
		lo, hi := b, end
		if i == 0 && q.From.After(lo) {
			lo = q.From
		}
		if hi.After(q.To) {
			hi = q.To
		}
		p := fieldsync.ReportPeriod{Start: lo.UTC(), End: hi.UTC(), Figures: figures(in(lo, hi), shape), PreviousTotal: prevTotal}
		p.ChangePercent = change(p.Total, prevTotal)
		out.Periods = append(out.Periods, p)
		prevTotal = int64(len(in(b, end)))
	}
	out.Total = figures(in(q.From, q.To), shape)
	out.Previous = figures(in(prevSpan, q.From), shape)
	out.ChangePercent = change(out.Total.Total, out.Previous.Total)
	return out, nil
}

// StaffReport implements fieldsync.ReportDetailService: per technician, the
// work orders of the span now assigned to them.
func (r *Reports) StaffReport(ctx context.Context, q fieldsync.ReportQuery) (*fieldsync.StaffReport, error) {
	c := fieldsync.CallerFromContext(ctx)
	if !fieldsync.CanReport(c, q.SiteID) {
		return nil, fieldsync.Errorf(fieldsync.EForbidden, "reports of this site are for its customer service, supervisors and admins")
	}
	if err := checkSpan(q.From, q.To); err != nil {
		return nil, err
	}
	rows, err := r.rows(ctx, fieldsync.CollWorkOrders, c.TenantID, []string{q.SiteID}, q.From, q.To)
	if err != nil {
		return nil, err
	}
	by := map[string]*fieldsync.StaffFigures{}
	sums := map[string]int64{}
	for _, row := range rows {
		id := row.str("assignee_id")
		if id == "" {
			continue
		}
		s := by[id]
		if s == nil {
			s = &fieldsync.StaffFigures{UserID: id}
			by[id] = s
		}
		if n := row.str("assignee_name"); n != "" {
			s.Name = n
		}
		s.Assigned++
		if done := row.time("completed_at"); !done.IsZero() {
			s.Completed++
			if due := row.time("resolve_by"); !due.IsZero() && !done.After(due) {
				s.OnTime++
			}
		}
		if v := row.num("satisfaction"); v >= 1 {
			s.Rated++
			sums[id] += v
		}
	}
	out := &fieldsync.StaffReport{SiteID: q.SiteID, From: q.From.UTC(), To: q.To.UTC(), Staff: []fieldsync.StaffFigures{}}
	for id, s := range by {
		if s.Rated > 0 {
			avg := float64(sums[id]) / float64(s.Rated)
			s.AvgSatisfaction = &avg
		}
		out.Staff = append(out.Staff, *s)
	}
	sort.Slice(out.Staff, func(i, j int) bool {
		a, b := out.Staff[i], out.Staff[j]
		if a.Completed != b.Completed {
			return a.Completed > b.Completed
		}
		return a.Name+a.UserID < b.Name+b.UserID
	})
	return out, nil
}

// SitesReport implements fieldsync.ReportDetailService: the caller's sites
// (every site with records, for an admin) side by side.
func (r *Reports) SitesReport(ctx context.Context, kind string, from, to time.Time) (*fieldsync.SitesReport, error) {
	shape, err := shapeOf(kind)
	if err != nil {
		return nil, err
	}
	c := fieldsync.CallerFromContext(ctx)
	if c == nil || !c.Role.IsDesk() {
		return nil, fieldsync.Errorf(fieldsync.EForbidden, "reports are for customer service, supervisors, managers and admins")
	}
	if err := checkSpan(from, to); err != nil {
		return nil, err
	}
	f := bson.M{"t": c.TenantID, "c": kind, "del": false, "ca": bson.M{"$gte": from, "$lt": to}}
	if c.Role != fieldsync.RoleAdmin {
		f["s"] = bson.M{"$in": c.SiteIDs}
	}
	cur, err := r.Store.DB.Collection(recordsOf(kind)).Find(ctx, f, options.Find().SetProjection(bson.M{"s": 1, "ca": 1, "f": 1}))
	if err != nil {
		return nil, mapError(err)
	}
	var rows []reportRow
	if err := cur.All(ctx, &rows); err != nil {
		return nil, mapError(err)
	}
	bySite := map[string][]reportRow{}
	sites := slices.Clone(c.SiteIDs)
	if c.Role == fieldsync.RoleAdmin {
		sites = nil
	}
	for _, row := range rows {
		if _, ok := bySite[row.Site]; !ok && !slices.Contains(sites, row.Site) {
			sites = append(sites, row.Site)
		}
		bySite[row.Site] = append(bySite[row.Site], row)
	}
	sort.Strings(sites)
	out := &fieldsync.SitesReport{Kind: kind, From: from.UTC(), To: to.UTC(), Sites: []fieldsync.SiteFigures{}}
	for _, s := range sites {
		out.Sites = append(out.Sites, fieldsync.SiteFigures{SiteID: s, Figures: figures(bySite[s], shape)})
	}
	return out, nil
}

// ReportRecords implements fieldsync.ReportDetailService: the records a
// report counts, oldest first.
func (r *Reports) ReportRecords(ctx context.Context, kind string, q fieldsync.ReportQuery) ([]fieldsync.ReportRecord, error) {
	shape, err := shapeOf(kind)
	if err != nil {
		return nil, err
	}
	c := fieldsync.CallerFromContext(ctx)
	if !fieldsync.CanReport(c, q.SiteID) {
		return nil, fieldsync.Errorf(fieldsync.EForbidden, "reports of this site are for its customer service, supervisors and admins")
	}
	if err := checkSpan(q.From, q.To); err != nil {
		return nil, err
	}
	rows, err := r.rows(ctx, kind, c.TenantID, []string{q.SiteID}, q.From, q.To)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].CreatedAt.Before(rows[j].CreatedAt) })
	out := make([]fieldsync.ReportRecord, 0, len(rows))
	for _, row := range rows {
		rec := fieldsync.ReportRecord{ID: row.recordID(), CreatedAt: row.CreatedAt.UTC().Format(time.RFC3339), Title: row.str("title"), Category: row.str("category"),
			State: row.str(shape.state), Priority: row.str("priority"), AssigneeName: row.str("assignee_name"),
			Overdue: row.F["overdue"] == true, ResolvedAt: row.str(shape.resolved), ResolveBy: row.str("resolve_by"),
			Satisfaction: row.num("satisfaction"), EscalationLevel: row.num("escalation_level")}
		rec.Escalated = row.F["escalated"] == true || rec.EscalationLevel > 0
		out = append(out, rec)
	}
	return out, nil
}
