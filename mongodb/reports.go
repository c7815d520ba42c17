package mongodb

import (
	"context"
	"errors"
	"slices"
	gosync "sync"
	"time"

	"fieldsync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The reports read the sync engine's records directly, in their readable
// layout (layout.go, docs/DATA-MODEL.md): tenant_id, site_id,
// created_at (a date) and every field under its own name; _sync.deleted
// marks a tombstone.
// recordsOf names the collection of a synced collection's records (the sync
// engine's RecordsCollectionFor: the synced collection's own name).
func recordsOf(coll string) string { return coll }

// Stored names the reports filter on.
const (
	recTenant  = "tenant_id"
	recSite    = "site_id"
	recCreated = "created_at"
	recDeleted = "_sync.deleted"
	recPos     = "_sync.position"
	recMedia   = "_sync.media"
)

// Reports computes the customer-service reports over the synced records
// (fieldsync.ReportService).
type Reports struct {
	Store *Store
}

var _ fieldsync.ReportService = (*Reports)(nil)

// reportShape says which fields of a collection a report reads.
type reportShape struct {
	coll      string
	state     string // stage or status field
	escalated bson.M // filter on f selecting escalated records
	resolved  string // time field set on resolution
}

var (
	complaintShape = reportShape{coll: fieldsync.CollComplaints, state: "stage",
		escalated: bson.M{"escalation_level": bson.M{"$gte": 1}}, resolved: "resolved_at"}
	workOrderShape = reportShape{coll: fieldsync.CollWorkOrders, state: "status",
		escalated: bson.M{"escalated": true}, resolved: "completed_at"}
)

// ComplaintReport implements fieldsync.ReportService.
func (r *Reports) ComplaintReport(ctx context.Context, q fieldsync.ReportQuery) (*fieldsync.Report, error) {
	return r.report(ctx, q, complaintShape)
}

// WorkOrderReport implements fieldsync.ReportService.
func (r *Reports) WorkOrderReport(ctx context.Context, q fieldsync.ReportQuery) (*fieldsync.Report, error) {
	return r.report(ctx, q, workOrderShape)
}

// report runs one single-accumulator query per figure, concurrently: real
// MongoDB answers each from the (t, c, s, ca) index, and the embedded
// database — which gets $group with several accumulators wrong — gets only
// queries it answers right. The median comes from a projection of the
// resolved records' two times, sorted here.
func (r *Reports) report(ctx context.Context, q fieldsync.ReportQuery, shape reportShape) (*fieldsync.Report, error) {
	c := fieldsync.CallerFromContext(ctx)
	if !fieldsync.CanReport(c, q.SiteID) {
		return nil, fieldsync.Errorf(fieldsync.EForbidden, "reports of this site are for its customer service, supervisors and admins")
	}
	if q.From.Before(fieldsync.MinReportTime) {
		return nil, fieldsync.FieldErrorf("from", "must be %s or later", fieldsync.MinReportTime.Format(time.RFC3339))
	}
	if !q.To.After(q.From) {
		return nil, fieldsync.FieldErrorf("to", "must be after from")
	}
	if q.To.Sub(q.From) > fieldsync.MaxReportSpan {
		return nil, fieldsync.FieldErrorf("from", "a report spans at most %d days", int(fieldsync.MaxReportSpan.Hours()/24))
	}
	recs := r.Store.DB.Collection(recordsOf(shape.coll))
	match := func(extra bson.M) bson.M {
		m := bson.M{recTenant: c.TenantID, recSite: q.SiteID, recDeleted: false, recCreated: bson.M{"$gte": q.From, "$lt": q.To}}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	out := &fieldsync.Report{SiteID: q.SiteID, From: q.From.UTC(), To: q.To.UTC()}
	var sum []float64 // the embedded database has no $avg: sum / Rated
	var durations []float64
	tasks := []func(ctx context.Context) error{
		func(ctx context.Context) (err error) { out.Total, err = recs.CountDocuments(ctx, match(nil)); return },
		func(ctx context.Context) (err error) {
			out.Overdue, err = recs.CountDocuments(ctx, match(bson.M{"overdue": true}))
			return
		},
		func(ctx context.Context) (err error) {
			out.Escalated, err = recs.CountDocuments(ctx, match(shape.escalated))
			return
		},
		func(ctx context.Context) (err error) {
			out.Rated, err = recs.CountDocuments(ctx, match(bson.M{"satisfaction": bson.M{"$gte": 1}}))
			return
		},
		func(ctx context.Context) (err error) {
			out.ByCategory, err = countBy(ctx, recs, match(nil), "$category")
			return
		},
		func(ctx context.Context) (err error) {
			out.ByState, err = countBy(ctx, recs, match(nil), "$"+shape.state)
			return
		},
		func(ctx context.Context) error {
			cur, err := recs.Aggregate(ctx, mongo.Pipeline{
				{{Key: "$match", Value: match(bson.M{"satisfaction": bson.M{"$gte": 1}})}},
				{{Key: "$group", Value: bson.M{"_id": nil, "v": bson.M{"$sum": "$satisfaction"}}}},
			})
			if err != nil {
				return err
			}
			var rows []struct {
				V float64 `bson:"v"`
			}
			if err := cur.All(ctx, &rows); err != nil {
				return err
			}
			for _, row := range rows {
				sum = append(sum, row.V)
			}
			return nil
		},
		func(ctx context.Context) error {
			field := shape.resolved
			cur, err := recs.Find(ctx, match(bson.M{field: bson.M{"$exists": true}}),
				options.Find().SetProjection(bson.M{recCreated: 1, field: 1}))
			if err != nil {
				return err
			}
			var rows []reportRow
			if err := cur.All(ctx, &rows); err != nil {
				return err
			}
			for _, row := range rows {
				if t, err := time.Parse(time.RFC3339Nano, row.str(field)); err == nil {
					durations = append(durations, t.Sub(row.CreatedAt).Seconds())
				}
			}
			return nil
		},
	}
	if err := runAll(ctx, tasks); err != nil {
		return nil, err
	}
	if len(sum) == 1 && out.Rated > 0 {
		avg := sum[0] / float64(out.Rated)
		out.AvgSatisfaction = &avg
	}
	out.Resolved = int64(len(durations))
	if m, ok := median(durations); ok {
		out.MedianResolveSeconds = &m
	}
	return out, nil
}

// countBy counts the matching records per value of key with one
// single-accumulator $group.
func countBy(ctx context.Context, recs *mongo.Collection, match bson.M, key string) (map[string]int64, error) {
	cur, err := recs.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$match", Value: match}},
		{{Key: "$group", Value: bson.M{"_id": key, "n": bson.M{"$sum": 1}}}},
	})
	if err != nil {
		return nil, err
	}
	var rows []struct {
		ID any   `bson:"_id"`
		N  int64 `bson:"n"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(rows))
	for _, row := range rows {
		k, ok := row.ID.(string)
		if !ok {
			k = "none"
		}
		out[k] += row.N
	}
	return out, nil
}

// runAll runs tasks concurrently and returns the first error, mapped.
func runAll(ctx context.Context, tasks []func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(tasks))
	var wg gosync.WaitGroup
	for i, t := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = t(ctx); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled)) {
			first = err
		}
	}
	return mapError(first)
}

// median of xs (sorted in place).
func median(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2], true
	}
	return (xs[n/2-1] + xs[n/2]) / 2, true
}
