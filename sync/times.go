package sync

import (
	"context"
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
// rec (nil for a new one) where the collection relates them
// (Collection.CheckTimes). Record times are compared only when the caller may read
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
	if o.coll.CheckTimes == nil {
		return nil
	}
	t := TimeCheck{Op: o.m.Op, Fields: o.fields, Args: o.args, Record: rec}
	if o.act != nil {
		t.Action = o.act.Name
	}
	if o.m.Op == fieldsync.OpCreate {
		t.Record = nil
	}
	return o.coll.CheckTimes(t)
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

type clientTimeKey struct{}

// withClientTime carries a mutation's client_time to the Compute and the
// actions it causes (DeviceTime).
func withClientTime(ctx context.Context, ct string) context.Context {
	if ct == "" {
		return ctx
	}
	return context.WithValue(ctx, clientTimeKey{}, ct)
}

// DeviceTime is, for the Compute and the actions of a mutation, when the
// staff member recorded the change on the device: the mutation's
// client_time (bounded by checkClientTimes to [now − MaxClientAge, now +
// MaxClientSkew]) when earlier than now, else now. A clock set back only
// makes the sender's own deadlines earlier; one set ahead cannot put them
// off, as the server's time caps it.
func DeviceTime(ctx context.Context, now time.Time) time.Time {
	s, _ := ctx.Value(clientTimeKey{}).(string)
	if s == "" {
		return now
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !t.Before(now) {
		return now
	}
	return t
}
