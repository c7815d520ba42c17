package sync

import (
	"fmt"
	"time"

	"fieldsync"
)

// Bounds of the times a phone sends (every Time field it sets, every Time
// argument, the Time fields of list items such as a scan's scanned_at, and
// the mutation's client_time), against the server's clock when the push
// arrives.
const (
	// MaxClientSkew is how far ahead of the server a phone's time may be. A
	// phone offline syncs late, never early: a time in the future comes only
	// from a wrong clock. Phones set their clocks from the network and drift
	// by seconds; an hour also lets through a clock a daylight-saving change
	// got wrong, and no more.
	MaxClientSkew = time.Hour
	// MaxClientAge is how far behind the server a phone's time may be: twice
	// the default device-session lifetime (FIELDSYNC_REFRESH_TOKEN_TTL, 720 h,
	// sliding). A phone offline longer had to log in again, and work that old
	// reaches nobody in time (the change log keeps 30 days).
	MaxClientAge = 60 * 24 * time.Hour
)

// checkClientTimes bounds the times op o brings from the phone against now
// (see MaxClientSkew, MaxClientAge), then against each other and the record
// rec (nil for a new one) where the collection relates them (a round's
// scans, its end). Record times are compared only when the caller may read
// the record, so a refusal tells nobody what they may not see; a caller who
// may not is refused by the authorization that follows.
func checkClientTimes(c *fieldsync.Caller, o *op, rec *Record, now time.Time) error {
	if o.m.ClientTime != "" {
		if err := checkClientTime("client_time", o.m.ClientTime, now); err != nil {
			return err
		}
	}
	var err error
	switch {
	case o.act != nil:
		err = checkTimeValues("args.", o.act.Args, o.args, now)
	case o.fields != nil:
		err = checkTimeValues("fields.", o.coll.Fields, o.fields, now)
	}
	if err != nil {
		return err
	}
	if o.m.Op != fieldsync.OpCreate && (rec == nil || !fieldsync.CanRead(c, rec.Ref(), now)) {
		return nil
	}
	if o.coll.Name == fieldsync.CollPatrolRounds {
		return checkRoundTimes(o, rec)
	}
	return nil
}

// checkTimeValues bounds the Time values of decoded fields or arguments vs,
// declared by decl, also inside object lists; prefix names them.
func checkTimeValues(prefix string, decl []Field, vs map[string]any, now time.Time) error {
	for name, v := range vs {
		f := findField(decl, name)
		if f == nil || v == nil {
			continue
		}
		switch f.Kind {
		case Time:
			s, _ := v.(string) // decoded: an RFC 3339 string
			if err := checkClientTime(prefix+name, s, now); err != nil {
				return err
			}
		case ObjectList:
			items, _ := v.([]any)
			for i, it := range items {
				m, _ := it.(map[string]any)
				if err := checkTimeValues(fmt.Sprintf("%s%s[%d].", prefix, name, i), f.Item, m, now); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkClientTime bounds one time s (valid RFC 3339: decoded) to
// [now - MaxClientAge, now + MaxClientSkew].
func checkClientTime(name, s string, now time.Time) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	switch {
	case err != nil:
		return fieldsync.FieldErrorf(name, "want an RFC 3339 time with zone")
	case t.After(now.Add(MaxClientSkew)):
		return fieldsync.FieldErrorf(name, "more than %s ahead of the server's time %s", span(MaxClientSkew), now.UTC().Format(time.RFC3339))
	case t.Before(now.Add(-MaxClientAge)):
		return fieldsync.FieldErrorf(name, "more than %s before the server's time %s", span(MaxClientAge), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// span writes a bound as people read it: "1 h", "60 days".
func span(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	if d%time.Hour == 0 {
		return fmt.Sprintf("%d h", d/time.Hour)
	}
	return d.String()
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

// parsedTime reads a decoded time value (zero when absent).
func parsedTime(v any) time.Time {
	s, _ := v.(string)
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// checkRoundTimes relates a patrol round's times (rec is the stored round,
// nil on create): scans happen after the round started and, once it ended,
// before it ended, give or take MaxClientSkew (a round's scans may come from
// several phones, whose clocks differ); a round ends no earlier than it
// started, and than its scans (give or take the skew).
func checkRoundTimes(o *op, rec *Record) error {
	var started, ended time.Time
	var scans []stamp
	switch {
	case o.m.Op == fieldsync.OpCreate:
		started = parsedTime(o.fields["started_at"])
		scans = scanStamps("fields.scans", o.fields["scans"])
	case o.m.Op == fieldsync.OpUpdate:
		scans = scanStamps("fields.scans", o.fields["scans"])
	case o.m.Op == fieldsync.OpAction && o.act.Name == "scan":
		scans = []stamp{{"args.scanned_at", parsedTime(o.args["scanned_at"])}}
	case o.m.Op == fieldsync.OpAction && o.act.Name == "end" && o.args["ended_at"] != nil:
		return checkRoundEnd(parsedTime(o.args["ended_at"]), rec)
	}
	if rec != nil && o.m.Op != fieldsync.OpCreate {
		started = timeOf(rec, "started_at")
		if rec.GetString("status") == RoundEnded {
			ended = timeOf(rec, "ended_at")
		}
	}
	for _, s := range scans {
		if !started.IsZero() && s.at.Before(started.Add(-MaxClientSkew)) {
			return fieldsync.FieldErrorf(s.name, "more than %s before the round's started_at %s", span(MaxClientSkew), started.UTC().Format(time.RFC3339))
		}
		if !ended.IsZero() && s.at.After(ended.Add(MaxClientSkew)) {
			return fieldsync.FieldErrorf(s.name, "more than %s after the round's ended_at %s", span(MaxClientSkew), ended.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// checkRoundEnd relates the ended_at an end action brings to the round rec.
func checkRoundEnd(at time.Time, rec *Record) error {
	if started := timeOf(rec, "started_at"); !started.IsZero() && at.Before(started) {
		return fieldsync.FieldErrorf("args.ended_at", "before the round's started_at %s", started.UTC().Format(time.RFC3339))
	}
	for _, s := range scanStamps("scans", rec.Get("scans")) {
		if at.Before(s.at.Add(-MaxClientSkew)) {
			return fieldsync.FieldErrorf("args.ended_at", "more than %s before the round's scan at %s", span(MaxClientSkew), s.at.UTC().Format(time.RFC3339))
		}
	}
	return nil
}
