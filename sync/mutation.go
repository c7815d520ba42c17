package sync

import (
	"time"

	"fieldsync"

	"github.com/google/uuid"
)

// Validation of a pushed mutation: everything that can be checked without
// the stored record.

// Validate checks one mutation without the database (push decoding, fuzzing).
func (e *Engine) Validate(tenant string, m *fieldsync.Mutation) error {
	_, err := e.parse(tenant, m)
	return err
}

func (e *Engine) parse(tenant string, m *fieldsync.Mutation) (*op, error) {
	// A UUID in its 36-character form, kept as sent (the result echoes it): no
	// operator, path or control character ever reaches a receipt or a log.
	if _, err := uuid.Parse(m.MutationID); err != nil || len(m.MutationID) != 36 {
		return nil, fieldsync.FieldErrorf("mutation_id", "want a UUID")
	}
	coll := e.colls[m.Collection]
	if coll == nil {
		return nil, fieldsync.FieldErrorf("collection", "unknown collection")
	}
	if u, err := uuid.Parse(m.ID); err != nil || len(m.ID) != 36 {
		return nil, fieldsync.FieldErrorf("id", "want a UUID")
	} else {
		m.ID = u.String()
	}
	if m.ClientTime != "" {
		if _, err := time.Parse(time.RFC3339Nano, m.ClientTime); err != nil {
			return nil, fieldsync.FieldErrorf("client_time", "want an RFC 3339 time with zone")
		}
	}
	if m.BaseVersion < 0 {
		return nil, fieldsync.FieldErrorf("base_version", "must not be negative")
	}
	o := &op{m: m, coll: coll, key: recordKey(tenant, coll.Name, m.ID)}
	var err error
	switch m.Op {
	case fieldsync.OpCreate:
		o.fields, err = coll.decodeFields(m.Fields, true)
	case fieldsync.OpUpdate:
		if m.BaseVersion == 0 {
			return nil, fieldsync.FieldErrorf("base_version", "required for update")
		}
		if len(m.Fields) == 0 {
			return nil, fieldsync.FieldErrorf("fields", "nothing to update")
		}
		o.fields, err = coll.decodeFields(m.Fields, false)
	case fieldsync.OpDelete:
		if m.BaseVersion == 0 {
			return nil, fieldsync.FieldErrorf("base_version", "required for delete")
		}
	case fieldsync.OpAction:
		o.act = coll.action(m.Action)
		if o.act == nil {
			return nil, fieldsync.FieldErrorf("action", "unknown action")
		}
		o.args, err = o.act.decodeArgs(m.Args)
	default:
		return nil, fieldsync.FieldErrorf("op", "want create, update, action or delete")
	}
	if err != nil {
		return nil, err
	}
	if m.Op != fieldsync.OpCreate && m.Op != fieldsync.OpUpdate && len(m.Fields) > 0 {
		return nil, fieldsync.FieldErrorf("fields", "only create and update carry fields")
	}
	if m.Op != fieldsync.OpAction && (m.Action != "" || len(m.Args) > 0) {
		return nil, fieldsync.FieldErrorf("action", "only action mutations name an action")
	}
	return o, nil
}

func problemOf(err error) *fieldsync.Problem {
	return &fieldsync.Problem{Code: fieldsync.ErrorCode(err), Detail: fieldsync.ErrorMessage(err), Field: fieldsync.ErrorField(err)}
}
