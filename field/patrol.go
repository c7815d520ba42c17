package field

import (
	"fmt"
	"slices"
	"time"

	"fieldsync"
	fsync "fieldsync/sync"
)

// Round statuses.
const (
	RoundInProgress = "in_progress"
	RoundEnded      = "ended"
)

var scanItem = []fsync.Field{
	{Name: "scan_id", Kind: fsync.UUID, Required: true},
	{Name: "checkpoint_id", Kind: fsync.UUID},
	{Name: "code", Kind: fsync.String, Max: 128},
	{Name: "scanned_at", Kind: fsync.Time, Required: true},
	{Name: "gps", Kind: fsync.GPS},
	{Name: "device_id", Kind: fsync.String, Max: 128},
}

// PatrolRounds declares the patrol_rounds collection: a guard's round on a
// route. Scans are an append-only list (two phones' scans merge, none is ever
// dropped); the server classifies them (summary fields) on the scan and end
// actions and in the patrol job, which also raises missed checkpoints once
// their window has closed.
func PatrolRounds() *fsync.Collection {
	return &fsync.Collection{
		Name: fieldsync.CollPatrolRounds,
		Fields: []fsync.Field{
			siteField,
			{Name: "route_id", Kind: fsync.UUID, Client: true, Required: true, Immutable: true},
			{Name: "started_at", Kind: fsync.Time, Client: true, Required: true, Immutable: true},
			{Name: "scans", Kind: fsync.ObjectList, Client: true, AppendOnly: true, MaxItems: 1000, Item: scanItem},
			{Name: "notes", Kind: fsync.String, Max: 4000, Client: true},
			{Name: "status", Kind: fsync.Enum, Values: []string{RoundInProgress, RoundEnded}, Default: RoundInProgress},
			{Name: "ended_at", Kind: fsync.Time},
			// Summary (server): checkpoint ids missed, late, out of order, still
			// pending; scan ids off the route or far from their checkpoint.
			{Name: "missed", Kind: fsync.UUIDList},
			{Name: "late", Kind: fsync.UUIDList},
			{Name: "out_of_order", Kind: fsync.UUIDList},
			{Name: "pending", Kind: fsync.UUIDList},
			{Name: "off_route_scans", Kind: fsync.UUIDList},
			{Name: "far_scans", Kind: fsync.UUIDList},
			// missed_alert is true once a checkpoint was missed: the customer-service app watches it.
			{Name: "missed_alert", Kind: fsync.Bool, Default: false},
		},
		// A guard starts rounds and adds scans and notes to their own round
		// while it runs; an admin may correct notes or remove a round.
		Rules: []fsync.Rule{
			{Op: fieldsync.OpCreate, Roles: []fieldsync.Role{fieldsync.RoleGuard, fieldsync.RoleAdmin}, Fields: all},
			{Op: fieldsync.OpUpdate, Roles: []fieldsync.Role{fieldsync.RoleGuard}, Fields: []string{"scans", "notes"},
				When: fsync.And(fsync.Own, fsync.In("status", RoundInProgress))},
			{Op: fieldsync.OpUpdate, Roles: adminsOnly, Fields: []string{"scans", "notes"}},
			{Op: fieldsync.OpDelete, Roles: adminsOnly},
		},
		CheckTimes: checkRoundTimes,
		Actions: []fsync.Action{
			{Name: "scan", Roles: []fieldsync.Role{fieldsync.RoleGuard, fieldsync.RoleAdmin}, Args: scanItem,
				Apply: func(a *fsync.ActionContext) error {
					if a.Args["checkpoint_id"] == nil && a.Args["code"] == nil {
						return fieldsync.FieldErrorf("args.code", "a scan names a checkpoint_id or a code")
					}
					a.Record.Append("scans", a.Args)
					return summarizeInAction(a)
				}},
			{Name: "end", Roles: []fieldsync.Role{fieldsync.RoleGuard, fieldsync.RoleAdmin},
				Args: []fsync.Field{{Name: "ended_at", Kind: fsync.Time}},
				Apply: func(a *fsync.ActionContext) error {
					if a.Record.GetString("status") == RoundEnded {
						return fieldsync.Errorf(fieldsync.EInvalidTransit, "the round has ended")
					}
					at := argString(a, "ended_at")
					if at == "" {
						at = a.Now.UTC().Format(time.RFC3339Nano)
					}
					a.Record.Set("status", RoundEnded)
					a.Record.Set("ended_at", at)
					return summarizeInAction(a)
				}},
		},
	}
}

// lookupFunc reads records by id (an action's Lookup, or a job's preloaded maps).
type lookupFunc func(collection string, ids ...string) ([]*fsync.Record, error)

func summarizeInAction(a *fsync.ActionContext) error {
	set, err := RoundSummary(a.Record, a.Lookup, a.Now)
	if err != nil {
		return err
	}
	for k, v := range set {
		a.Record.Set(k, v)
	}
	return nil
}

// RoundSummary classifies a round's scans against its route at now and
// returns the summary fields to set. A round whose route is gone summarizes
// every scan as off the route. The windows run from when the round started
// by the phone's clock or, if earlier, when the server received it: a clock
// set ahead (at most MaxClientSkew) never puts off a missed-checkpoint alarm.
func RoundSummary(round *fsync.Record, lookup lookupFunc, now time.Time) (map[string]any, error) {
	started := timeOf(round, "started_at")
	if !round.CreatedAt.IsZero() && (started.IsZero() || round.CreatedAt.Before(started)) {
		started = round.CreatedAt
	}
	r := fieldsync.Round{Started: started, Ended: round.GetString("status") == RoundEnded, MaxDistance: DefaultGPSThreshold}
	if sites, err := lookup(fieldsync.CollSites, round.SiteID); err != nil {
		return nil, err
	} else if len(sites) == 1 {
		if d, ok := sites[0].Get("gps_threshold_m").(float64); ok {
			r.MaxDistance = d
		}
	}
	routes, err := lookup(fieldsync.CollPatrolRoutes, round.GetString("route_id"))
	if err != nil {
		return nil, err
	}
	if len(routes) == 1 && routes[0].SiteID == round.SiteID {
		stops, _ := routes[0].Get("stops").([]any)
		ids := make([]string, 0, len(stops))
		for _, s := range stops {
			m, _ := s.(map[string]any)
			id, _ := m["checkpoint_id"].(string)
			ids = append(ids, id)
		}
		cps, err := lookup(fieldsync.CollCheckpoints, ids...)
		if err != nil {
			return nil, err
		}
		for _, s := range stops {
			m, _ := s.(map[string]any)
			id, _ := m["checkpoint_id"].(string)
			stop := fieldsync.RouteStop{CheckpointID: id,
				WindowStart: minutes(m["window_start_min"]), WindowEnd: minutes(m["window_end_min"])}
			if i := slices.IndexFunc(cps, func(c *fsync.Record) bool { return c.ID == id }); i >= 0 && cps[i].SiteID == round.SiteID {
				stop.Code = cps[i].GetString("code")
				stop.Location = gpsOf(cps[i].Get("location"))
			}
			r.Stops = append(r.Stops, stop)
		}
	}
	scans, _ := round.Get("scans").([]any)
	scanIDs := make([]string, len(scans))
	for i, s := range scans {
		m, _ := s.(map[string]any)
		scanIDs[i], _ = m["scan_id"].(string)
		sc := fieldsync.Scan{GPS: gpsOf(m["gps"])}
		sc.CheckpointID, _ = m["checkpoint_id"].(string)
		sc.Code, _ = m["code"].(string)
		at, _ := m["scanned_at"].(string)
		sc.ScannedAt, _ = time.Parse(time.RFC3339Nano, at)
		r.Scans = append(r.Scans, sc)
	}
	sum := fieldsync.SummarizeRound(r, now)
	pick := func(idx []int) []string {
		out := make([]string, 0, len(idx))
		for _, i := range idx {
			out = append(out, scanIDs[i])
		}
		return out
	}
	set := map[string]any{
		"missed": sum.Missed, "late": sum.Late, "out_of_order": sum.OutOfOrder, "pending": sum.Pending,
		"off_route_scans": pick(sum.OffRoute), "far_scans": pick(sum.FarAway),
		"missed_alert": len(sum.Missed) > 0,
	}
	return set, nil
}

func minutes(v any) time.Duration {
	switch x := v.(type) {
	case int64:
		return time.Duration(x) * time.Minute
	case float64:
		return time.Duration(x * float64(time.Minute))
	}
	return 0
}

func gpsOf(v any) *fieldsync.GPS {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	lat, ok1 := m["lat"].(float64)
	lng, ok2 := m["lng"].(float64)
	if !ok1 || !ok2 {
		return nil
	}
	return &fieldsync.GPS{Lat: lat, Lng: lng}
}

// stamp is a time a mutation brings and the name of where it came from.
type stamp struct {
	name string
	at   time.Time
}

// scanStamps are the scanned_at times of the scans in list (a decoded
// ObjectList) named name.
func scanStamps(name string, list any) []stamp {
	items, _ := list.([]any)
	out := make([]stamp, 0, len(items))
	for i, it := range items {
		m, _ := it.(map[string]any)
		out = append(out, stamp{fmt.Sprintf("%s[%d].scanned_at", name, i), parsedTime(m["scanned_at"])})
	}
	return out
}

// skew is sync.MaxClientSkew as people read it.
var skew = fmt.Sprintf("%g h", fsync.MaxClientSkew.Hours())

// checkRoundTimes relates a patrol round's times (Collection.CheckTimes):
// scans happen after the round started and, once it ended, before it ended,
// give or take sync.MaxClientSkew (a round's scans may come from several
// phones, whose clocks differ); a round ends no earlier than it started, and
// than its scans (give or take the skew).
func checkRoundTimes(t fsync.TimeCheck) error {
	var started, ended time.Time
	var scans []stamp
	switch {
	case t.Op == fieldsync.OpCreate:
		started = parsedTime(t.Fields["started_at"])
		scans = scanStamps("fields.scans", t.Fields["scans"])
	case t.Op == fieldsync.OpUpdate:
		scans = scanStamps("fields.scans", t.Fields["scans"])
	case t.Op == fieldsync.OpAction && t.Action == "scan":
		scans = []stamp{{"args.scanned_at", parsedTime(t.Args["scanned_at"])}}
	case t.Op == fieldsync.OpAction && t.Action == "end" && t.Args["ended_at"] != nil:
		return checkRoundEnd(parsedTime(t.Args["ended_at"]), t.Record)
	}
	if rec := t.Record; rec != nil {
		started = timeOf(rec, "started_at")
		if rec.GetString("status") == RoundEnded {
			ended = timeOf(rec, "ended_at")
		}
	}
	for _, s := range scans {
		if !started.IsZero() && s.at.Before(started.Add(-fsync.MaxClientSkew)) {
			return fieldsync.FieldErrorf(s.name, "more than %s before the round's started_at %s", skew, started.UTC().Format(time.RFC3339))
		}
		if !ended.IsZero() && s.at.After(ended.Add(fsync.MaxClientSkew)) {
			return fieldsync.FieldErrorf(s.name, "more than %s after the round's ended_at %s", skew, ended.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// checkRoundEnd relates the ended_at an end action brings to the round rec.
func checkRoundEnd(at time.Time, rec *fsync.Record) error {
	if rec == nil {
		return nil
	}
	if started := timeOf(rec, "started_at"); !started.IsZero() && at.Before(started) {
		return fieldsync.FieldErrorf("args.ended_at", "before the round's started_at %s", started.UTC().Format(time.RFC3339))
	}
	for _, s := range scanStamps("scans", rec.Get("scans")) {
		if at.Before(s.at.Add(-fsync.MaxClientSkew)) {
			return fieldsync.FieldErrorf("args.ended_at", "more than %s before the round's scan at %s", skew, s.at.UTC().Format(time.RFC3339))
		}
	}
	return nil
}
