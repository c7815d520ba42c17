package field

import (
	"context"
	"fmt"
	"slices"
	gosync "sync"
	"time"

	"fieldsync"
	fsync "fieldsync/sync"
)

// DemoSeed is what SeedDemo needs: the demo users' ids by username (as the
// auth seed made them) and the time the demo week ends.
type DemoSeed struct {
	Users map[string]string
	Now   time.Time
}

// demoUsers are the usernames SeedDemo needs.
var demoUsers = []string{"admin", "guard.a1", "guard.a2", "guard.b1", "tech.a1", "tech.a2", "cs.a1", "super.a1"}

// SeedDemo creates the demo tenant's sites, five checkpoints and one patrol
// route per site, and a plausible week of activity at site A: daily patrol
// rounds (one with a missed checkpoint, one with a scan off the route),
// inspections, work orders in every status and complaints in every stage.
// Every record has a fixed id and is written through the engine (versioned,
// logged, pulled like any change); records that exist already are left
// alone, so seeding again creates nothing. It returns how many records it
// created. open opens an engine on the demo's database with the options
// given (the seed's own clock and the field collections).
func SeedDemo(ctx context.Context, open func(context.Context, fsync.Options) (*fsync.Engine, error), seed DemoSeed) (int, error) {
	for _, u := range demoUsers {
		if seed.Users[u] == "" {
			return 0, fmt.Errorf("field: demo seed: user %s missing", u)
		}
	}
	var mu gosync.Mutex
	clock := seed.Now
	colls := Collections(Options{})
	e, err := open(ctx, fsync.Options{Collections: colls, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	if err != nil {
		return 0, err
	}
	existing := map[string]bool{}
	for _, coll := range colls {
		c := coll.Name
		if err := e.Records(ctx, fieldsync.DemoTenant, c, func(r *fsync.Record) error { existing[c+"/"+r.ID] = true; return nil }); err != nil {
			return 0, err
		}
	}
	plan := demoPlan(seed)
	// Records are written at their creation time, oldest first.
	slices.SortStableFunc(plan, func(a, b demoRecord) int { return a.at.Compare(b.at) })
	created := 0
	for i := 0; i < len(plan); {
		j := i
		var batch []fsync.Write
		for ; j < len(plan) && plan[j].at.Equal(plan[i].at); j++ {
			if !existing[plan[j].w.Collection+"/"+plan[j].w.ID] {
				batch = append(batch, plan[j].w)
			}
		}
		if len(batch) > 0 {
			mu.Lock()
			clock = plan[i].at
			mu.Unlock()
			if err := e.Apply(ctx, fieldsync.DemoTenant, batch); err != nil {
				return created, err
			}
			created += len(batch)
		}
		i = j
	}
	return created, nil
}

type demoRecord struct {
	at time.Time
	w  fsync.Write
}

func demoID(parts ...string) string { return derivedID(append([]string{"demo"}, parts...)...) }

// demoPlan lays out the demo records.
func demoPlan(seed DemoSeed) []demoRecord {
	u := seed.Users
	week := seed.Now.UTC().Truncate(time.Hour).Add(-7 * 24 * time.Hour)
	var plan []demoRecord
	add := func(at time.Time, coll, id, site, by string, set map[string]any) {
		plan = append(plan, demoRecord{at: at, w: fsync.Write{Collection: coll, ID: id, Create: true, SiteID: site, CreatedBy: by, Set: set}})
	}
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	refAt := week.Add(-24 * time.Hour)
	cps := map[string][]string{}
	for i, site := range []string{fieldsync.DemoSiteA, fieldsync.DemoSiteB} {
		name := []string{"Garden Court", "Riverside Plaza"}[i]
		letter := []string{"A", "B"}[i]
		base := fieldsync.GPS{Lat: 31.2304 + float64(i)*0.01, Lng: 121.4737}
		add(refAt, fieldsync.CollSites, site, site, u["admin"], map[string]any{"name": name, "address": name + ", Shanghai",
			"location": map[string]any{"lat": base.Lat, "lng": base.Lng}, "gps_threshold_m": 50.0, "guards_raise_work_orders": i == 0})
		var stops []any
		for k := 1; k <= 5; k++ {
			id := demoID("checkpoint", site, fmt.Sprint(k))
			cps[site] = append(cps[site], id)
			add(refAt, fieldsync.CollCheckpoints, id, site, u["admin"], map[string]any{
				"name": []string{"Main gate", "Car park B1", "Building 3 lobby", "Pump room", "East fence"}[k-1],
				"code": fmt.Sprintf("%s-CP-%02d", letter, k), "building": fmt.Sprint(k),
				"location": map[string]any{"lat": base.Lat + float64(k)*0.0005, "lng": base.Lng + float64(k)*0.0005}})
			stops = append(stops, map[string]any{"checkpoint_id": id, "window_start_min": int64((k - 1) * 12), "window_end_min": int64(k * 12)})
		}
		add(refAt, fieldsync.CollPatrolRoutes, demoID("route", site), site, u["admin"], map[string]any{"name": "Night round " + letter, "stops": stops, "active": true})
	}
	A := fieldsync.DemoSiteA
	// Daily rounds at A: day 2 misses the pump room, day 4 scans a tag not on the route.
	for d := 0; d < 7; d++ {
		start := week.Add(time.Duration(d)*24*time.Hour + 22*time.Hour)
		guard := []string{"guard.a1", "guard.a2"}[d%2]
		var scans []any
		for k, cp := range cps[A] {
			if d == 2 && k == 3 {
				continue
			}
			scans = append(scans, map[string]any{"scan_id": demoID("scan", fmt.Sprint(d, k)), "checkpoint_id": cp,
				"code": fmt.Sprintf("A-CP-%02d", k+1), "scanned_at": ts(start.Add(time.Duration(k*12+5) * time.Minute)),
				"gps": map[string]any{"lat": 31.2304 + float64(k+1)*0.0005, "lng": 121.4737 + float64(k+1)*0.0005, "accuracy": 8.0}})
		}
		if d == 4 {
			scans = append(scans, map[string]any{"scan_id": demoID("scan", "stray"), "code": "A-CP-99", "scanned_at": ts(start.Add(20 * time.Minute))})
		}
		if d == 6 && start.After(seed.Now) {
			continue
		}
		add(start, fieldsync.CollPatrolRounds, demoID("round", fmt.Sprint(d)), A, u[guard], map[string]any{
			"route_id": demoID("route", A), "started_at": ts(start), "scans": scans,
			"status": RoundEnded, "ended_at": ts(start.Add(time.Hour))})
	}
	// Inspections at A, one per day.
	insp := []struct{ cat, sev, desc, loc string }{
		{"facilities", "medium", "Lobby door closer broken", "Building 3 lobby"},
		{"fire_safety", "critical", "Fire door propped open", "Building 2 stairwell 5F"},
		{"vehicles", "low", "Car parked across two bays", "Car park B1"},
		{"renovation", "high", "Renovation debris in corridor", "Building 1 unit 1-1203"},
		{"sanitation", "medium", "Overflowing bins", "East fence"},
		{"greening", "low", "Dead shrubs by the playground", "Central garden"},
		{"other", "medium", "Loose manhole cover", "Main gate"},
	}
	for d, in := range insp {
		at := week.Add(time.Duration(d)*24*time.Hour + 23*time.Hour)
		add(at, fieldsync.CollInspections, demoID("inspection", fmt.Sprint(d)), A, u[[]string{"guard.a1", "guard.a2"}[d%2]], map[string]any{
			"category": in.cat, "severity": in.sev, "description": in.desc, "location": in.loc,
			"observed_at": ts(at), "round_id": demoID("round", fmt.Sprint(d)), "checkpoint_id": cps[A][d%5],
			"gps": map[string]any{"lat": 31.2310, "lng": 121.4740, "accuracy": 10.0}})
		if d == 1 {
			plan[len(plan)-1].w.Set["work_order_ids"] = []string{demoID("order", fieldsync.WOOpen)}
		}
	}
	// Work orders in every status, each with the timeline that led there.
	steps := []struct{ action, to string }{{"assign", fieldsync.WOAssigned}, {"accept", fieldsync.WOAccepted},
		{"start", fieldsync.WOInProgress}, {"complete", fieldsync.WOCompleted}, {"verify", fieldsync.WOVerified}}
	orders := []struct {
		status, priority, cat, dept, title, unit, tech string
		steps                                          int
		hold, cancel                                   bool
	}{
		{fieldsync.WOOpen, "urgent", "fire_safety", "security", "Close and check fire door", "2-stair", "", 0, false, false},
		{fieldsync.WOAssigned, "normal", "facilities", "engineering", "Repair lobby door closer", "3-lobby", "tech.a1", 1, false, false},
		{fieldsync.WOAccepted, "low", "greening", "environment", "Replace dead shrubs", "garden", "tech.a2", 2, false, false},
		{fieldsync.WOInProgress, "normal", "facilities", "engineering", "Kitchen sink leaking", "5-0802", "tech.a1", 3, false, false},
		{fieldsync.WOOnHold, "normal", "facilities", "engineering", "Replace corridor light fitting", "4-0601", "tech.a1", 3, true, false},
		{fieldsync.WOCompleted, "urgent", "facilities", "engineering", "Water pipe burst", "1-0304", "tech.a1", 4, false, false},
		{fieldsync.WOVerified, "normal", "sanitation", "environment", "Clear overflowing bins", "east-fence", "tech.a2", 5, false, false},
		{fieldsync.WOCancelled, "low", "facilities", "engineering", "Door bell not working", "2-1101", "tech.a1", 1, false, true},
	}
	for i, o := range orders {
		at := week.Add(time.Duration(i)*20*time.Hour + 9*time.Hour)
		id := demoID("order", o.status)
		tl := []any{timelineEntry(at, u["cs.a1"], "", "create", "", fieldsync.WOOpen, "")}
		set := map[string]any{"source": "owner_request", "department": o.dept, "priority": o.priority, "category": o.cat,
			"title": o.title, "building": o.unit[:1], "unit": o.unit, "owner_name": "Owner " + o.unit, "owner_phone": fmt.Sprintf("1390000%04d", i)}
		from, t := fieldsync.WOOpen, at
		for k := 0; k < o.steps; k++ {
			t = t.Add(time.Duration(k+1) * 4 * time.Minute)
			by := u["cs.a1"]
			if k > 0 && k < 4 {
				by = u[o.tech]
			}
			s := steps[k]
			switch s.action {
			case "assign":
				set["assignee_id"], set["assigned_at"] = u[o.tech], ts(t)
			case "accept":
				set["accepted_at"] = ts(t)
			case "start":
				set["started_at"] = ts(t)
			case "complete":
				t = t.Add(90 * time.Minute)
				set["completed_at"], set["resolution"], set["parts"] = ts(t), "Fixed and tested", []string{"sealant"}
			case "verify":
				set["verified_at"], set["satisfaction"], set["verify_notes"] = ts(t.Add(time.Hour)), int64(5), "Owner pleased"
			}
			tl = append(tl, timelineEntry(t, by, "", s.action, from, s.to, ""))
			from = s.to
		}
		if o.hold {
			t = t.Add(30 * time.Minute)
			set["hold_reason"] = "Waiting for the fitting to arrive"
			tl = append(tl, timelineEntry(t, u[o.tech], "", "hold", from, fieldsync.WOOnHold, "Waiting for the fitting to arrive"))
		}
		if o.cancel {
			t = t.Add(time.Hour)
			set["cancelled_at"], set["cancel_reason"] = ts(t), "Owner fixed it themselves"
			tl = append(tl, timelineEntry(t, u["cs.a1"], "", "cancel", from, fieldsync.WOCancelled, "Owner fixed it themselves"))
		}
		if o.status == fieldsync.WOOpen {
			set["source"], set["inspection_id"] = "inspection", demoID("inspection", "1")
		}
		if o.status == fieldsync.WOInProgress {
			set["source"], set["complaint_ids"] = "complaint", []string{demoID("complaint", fieldsync.StageResolving)}
		}
		set["status"], set["timeline"] = o.status, tl
		add(at, fieldsync.CollWorkOrders, id, A, u["cs.a1"], set)
	}
	// Complaints in every stage.
	complaints := []struct {
		stage, channel, cat, content, unit string
		invalid                            bool
		level                              int64
	}{
		{fieldsync.StageReceived, "phone", "noise", "Loud music after 23:00 from the unit above", "6-1502", false, 0},
		{fieldsync.StageClarifying, "front_desk", "parking", "Someone parks in my bay every night", "3-0901", false, 0},
		{fieldsync.StageResolving, "app", "facilities", "Kitchen sink leaking into the unit below", "5-0702", false, 1},
		{fieldsync.StageFollowUp, "on_site", "sanitation", "Bins by the east fence overflow", "7-0101", false, 0},
		{fieldsync.StageClosed, "phone", "service", "Front desk did not answer the phone", "1-0203", false, 0},
		{fieldsync.StageClosed, "phone", "fees", "Neighbour's property fee is lower than mine", "2-0405", true, 0},
	}
	for i, c := range complaints {
		at := week.Add(time.Duration(i)*26*time.Hour + 10*time.Hour)
		key := c.stage
		if c.invalid {
			key = "invalid"
		}
		id := demoID("complaint", key)
		set := map[string]any{"channel": c.channel, "category": c.cat, "content": c.content, "unit": c.unit, "building": c.unit[:1],
			"owner_name": "Owner " + c.unit, "owner_phone": fmt.Sprintf("1380000%04d", i), "stage": c.stage}
		tl := []any{timelineEntry(at, u["cs.a1"], "", "create", "", fieldsync.StageReceived, "")}
		if c.stage != fieldsync.StageReceived {
			set["valid"] = !c.invalid
		}
		switch {
		case c.invalid:
			set["validity_reason"], set["result_summary"], set["closed_at"] = "Fees are set by the owners' committee", "Fees are set by the owners' committee", ts(at.Add(time.Hour))
			tl = append(tl, timelineEntry(at.Add(time.Hour), u["cs.a1"], "", "invalidate", fieldsync.StageReceived, fieldsync.StageClosed, "Fees are set by the owners' committee"))
		case c.stage == fieldsync.StageResolving:
			order := demoID("order", fieldsync.WOInProgress)
			set["work_order_ids"] = []string{order}
			set["work_orders"] = []any{map[string]any{"id": order, "status": fieldsync.WOInProgress, "title": "Kitchen sink leaking", "assignee_id": u["tech.a1"]}}
			esc := at.Add(26 * time.Hour)
			set["escalation_level"], set["escalated_to"] = c.level, fieldsync.ComplaintEscalationTargets[c.level]
			set["escalations"] = []any{map[string]any{"level": c.level, "at": ts(esc), "by": u["super.a1"], "reason": "Owner called again, still leaking", "reply_by": ts(esc.Add(fieldsync.EscalationDeadline))}}
			set["reply_by"], set["deadline_stage"], set["stage_entered_at"] = ts(esc.Add(fieldsync.EscalationDeadline)), c.stage, ts(esc)
			tl = append(tl, timelineEntry(esc, u["super.a1"], "", "escalate", fieldsync.StageResolving, fieldsync.StageResolving, "Owner called again, still leaking"))
		case c.stage == fieldsync.StageFollowUp || c.stage == fieldsync.StageClosed:
			res := at.Add(20 * time.Hour)
			set["resolved_at"], set["follow_up_due"] = ts(res), ts(res.Add(fieldsync.DefaultStageDeadlines[fieldsync.StageFollowUp]))
			tl = append(tl, timelineEntry(res, u["cs.a1"], "", "resolve", fieldsync.StageResolving, fieldsync.StageFollowUp, ""))
			if c.stage == fieldsync.StageClosed {
				set["follow_up_method"], set["satisfaction"], set["follow_up_notes"], set["followed_up_at"], set["followed_up_by"] =
					"phone", int64(4), "Owner satisfied with the new procedure", ts(res.Add(24*time.Hour)), u["cs.a1"]
				set["result_summary"], set["closed_at"] = "Calls now forwarded to the duty phone", ts(res.Add(25*time.Hour))
			}
		}
		set["timeline"] = tl
		add(at, fieldsync.CollComplaints, id, A, u["cs.a1"], set)
	}
	summarizeDemoRounds(plan, seed.Now)
	return plan
}

// summarizeDemoRounds gives the demo rounds their summaries as the patrol job would.
func summarizeDemoRounds(plan []demoRecord, now time.Time) {
	recs := map[string]*fsync.Record{}
	for _, p := range plan {
		r := &fsync.Record{ID: p.w.ID, SiteID: p.w.SiteID, Collection: p.w.Collection, Fields: map[string]any{}}
		for k, v := range p.w.Set {
			r.Set(k, v)
		}
		recs[p.w.Collection+"/"+p.w.ID] = r
	}
	lookup := func(coll string, ids ...string) ([]*fsync.Record, error) {
		var out []*fsync.Record
		for _, id := range ids {
			if r := recs[coll+"/"+id]; r != nil {
				out = append(out, r)
			}
		}
		return out, nil
	}
	for _, p := range plan {
		if p.w.Collection != fieldsync.CollPatrolRounds {
			continue
		}
		set, _ := RoundSummary(recs[p.w.Collection+"/"+p.w.ID], lookup, now)
		for k, v := range set {
			p.w.Set[k] = v
		}
	}
}
