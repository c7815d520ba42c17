package field_test

import (
	"strings"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/field"
	fsync "fieldsync/sync"
)

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// wantInvalid fails unless r was rejected with invalid_input naming field.
func wantInvalid(tb testing.TB, what string, r fieldsync.MutationResult, field string) {
	tb.Helper()
	if r.Status != fieldsync.StatusRejected || r.Error == nil || r.Error.Code != fieldsync.EInvalid || r.Error.Field != field {
		tb.Errorf("%s: got %s %+v, want rejected invalid_input naming %s", what, r.Status, r.Error, field)
	}
}

// TestClientTimesAreBounded (issue #15 item 7): every time a phone sets — a
// field, an action argument, a scan's scanned_at inside the scans list, the
// mutation's client_time — lies within [now - MaxClientAge, now +
// MaxClientSkew] of the server's clock, and a round's times agree with each
// other; out of bounds is rejected naming the field.
func TestClientTimesAreBounded(t *testing.T) {
	t.Parallel()
	h := newField(t, field.Options{})
	guard1, guard2 := at(guard1, siteU), at(guard2, siteU)
	route, cps := h.patrolSite(false)
	now := h.now.Now()
	y2099, y1999, y1990 := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	round := func(started time.Time, kv ...any) fieldsync.Mutation {
		return create(fieldsync.CollPatrolRounds, newID(), append([]any{"site_id", siteU, "route_id", route, "started_at", rfc(started)}, kv...)...)
	}
	late := now.Add(fsync.MaxClientSkew + time.Minute)
	old := now.Add(-fsync.MaxClientAge - time.Minute)
	withClientTime := func(m fieldsync.Mutation, at time.Time) fieldsync.Mutation { m.ClientTime = rfc(at); return m }
	res := h.push(guard1,
		round(y2099),
		round(late),
		round(old),
		round(now, "scans", []any{scan(newID(), cps[0], "", y1999, 121.4)}),
		round(now, "scans", []any{scan(newID(), cps[0], "", now, 121.4), scan(newID(), cps[1], "", now.Add(-fsync.MaxClientSkew-time.Minute), 121.4)}),
		createInspection(newID(), siteU, "observed_at", rfc(y2099)),
		withClientTime(createInspection(newID(), siteU), y2099),
		withClientTime(createInspection(newID(), siteU), y1990),
		// Within the bounds: a phone whose clock is ahead, one that was offline for weeks.
		round(now.Add(fsync.MaxClientSkew-time.Minute)),
		withClientTime(createInspection(newID(), siteU, "observed_at", rfc(now.Add(-fsync.MaxClientAge+time.Hour))), now.Add(-fsync.MaxClientAge+time.Hour)),
	)
	wantInvalid(t, "started_at in 2099", res[0], "fields.started_at")
	wantInvalid(t, "started_at beyond the skew", res[1], "fields.started_at")
	wantInvalid(t, "started_at older than the age", res[2], "fields.started_at")
	wantInvalid(t, "a scan in 1999", res[3], "fields.scans[0].scanned_at")
	wantInvalid(t, "a scan before the round started", res[4], "fields.scans[1].scanned_at")
	wantInvalid(t, "observed_at in 2099", res[5], "fields.observed_at")
	wantInvalid(t, "client_time in 2099", res[6], "client_time")
	wantInvalid(t, "client_time in 1990", res[7], "client_time")
	wantApplied(t, res[8])
	wantApplied(t, res[9])
	if d := res[0].Error.Detail; !strings.Contains(d, "1 h ahead") {
		t.Errorf("the refusal does not say the bound: %q", d)
	}

	// A round started 4 h ago, by a phone offline since.
	started := now.Add(-4 * time.Hour)
	r := round(started)
	wantApplied(t, h.push(guard1, r)[0])
	id := r.ID
	scanAt := func(c *fieldsync.Caller, at time.Time) fieldsync.MutationResult {
		return h.act(c, fieldsync.CollPatrolRounds, id, "scan", "scan_id", newID(), "checkpoint_id", cps[0], "scanned_at", rfc(at))
	}
	wantInvalid(t, "scan action in 1999", scanAt(guard1, y1999), "args.scanned_at")
	wantInvalid(t, "scan action in 2099", scanAt(guard1, y2099), "args.scanned_at")
	wantInvalid(t, "scan action before the round started", scanAt(guard1, started.Add(-fsync.MaxClientSkew-time.Minute)), "args.scanned_at")
	// Who may not read the round learns nothing of its times: refused as forbidden.
	wantCode(t, scanAt(guard2, started.Add(-fsync.MaxClientSkew-time.Minute)), fieldsync.EForbidden)
	wantInvalid(t, "scans update before the round started", h.push(guard1, update(fieldsync.CollPatrolRounds, id, h.version(fieldsync.CollPatrolRounds, id),
		"scans", []any{scan(newID(), cps[1], "", started.Add(-2*time.Hour), 121.4)}))[0], "fields.scans[0].scanned_at")
	wantApplied(t, scanAt(guard1, started.Add(10*time.Minute)))
	wantApplied(t, scanAt(guard1, started.Add(2*time.Hour)))
	end := func(at time.Time) fieldsync.MutationResult {
		return h.act(guard1, fieldsync.CollPatrolRounds, id, "end", "ended_at", rfc(at))
	}
	wantInvalid(t, "ended_at in 1990", end(y1990), "args.ended_at")
	wantInvalid(t, "ended_at in 2099", end(y2099), "args.ended_at")
	wantInvalid(t, "ended_at before started_at", end(started.Add(-time.Minute)), "args.ended_at")
	wantInvalid(t, "ended_at long before a scan", end(started.Add(2*time.Hour-fsync.MaxClientSkew-time.Minute)), "args.ended_at")
	ended := started.Add(3 * time.Hour)
	wantApplied(t, end(ended))
	// Scans that reach the server after the end: not after it (give or take the skew).
	wantInvalid(t, "scan long after the end", scanAt(guard1, ended.Add(fsync.MaxClientSkew+time.Minute)), "args.scanned_at")
	wantApplied(t, scanAt(guard1, ended.Add(fsync.MaxClientSkew-time.Minute)))
	d := h.docOf(guard1, fieldsync.CollPatrolRounds, id)
	if n := len(d["scans"].([]any)); n != 3 {
		t.Fatalf("%d scans kept, want the 3 within bounds", n)
	}
	wantField(t, d, "ended_at", rfc(ended))
}

// TestRoundWindowsRunFromServerReceipt (issue #15 item 7): a phone whose
// clock is ahead (within MaxClientSkew) cannot put off the missed-checkpoint
// alarm: the windows run from when the server received the round if that is
// earlier than its started_at.
func TestRoundWindowsRunFromServerReceipt(t *testing.T) {
	t.Parallel()
	h := newField(t, field.Options{})
	guard1, agent1 := at(guard1, siteU), at(agent1, siteU)
	route, cps := h.patrolSite(false)
	round := newID()
	wantApplied(t, h.push(guard1, create(fieldsync.CollPatrolRounds, round, "site_id", siteU, "route_id", route,
		"started_at", rfc(h.now.Now().Add(fsync.MaxClientSkew-time.Minute))))[0])
	// 15 minutes after the server received it, the first window (0-10) has closed unscanned.
	h.now.Advance(15 * time.Minute)
	if _, err := h.e.RunJobsOnce(as(admin), fsync.JobOptions{Jobs: field.Jobs}); err != nil {
		t.Fatal(err)
	}
	d := h.docOf(agent1, fieldsync.CollPatrolRounds, round)
	wantList(t, d, "missed", cps[0])
	wantList(t, d, "pending", cps[1], cps[2])
	wantField(t, d, "missed_alert", true)
}
