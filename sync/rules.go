package sync

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"fieldsync"
)

// AllFields in Rule.Fields grants every client field of the collection.
const AllFields = "*"

// Rule grants Roles one kind of mutation on a collection's records: a create
// setting Fields, an update of Fields while When holds for the record, or a
// delete while When holds. Rules are declared beside each collection's fields
// (Collection.Rules) so a reader finds who may change what in one place; a
// mutation no rule grants is rejected forbidden, naming the refused field.
// Actions are granted by their own roles and state machine (Collection.Machine).
type Rule struct {
	Op     string // fieldsync.OpCreate, OpUpdate or OpDelete
	Roles  []fieldsync.Role
	Fields []string
	// When, if set, must hold for the record as it is before the change
	// (update and delete); nil means always.
	When *Cond
}

// Cond is a named condition on the caller and a record; the name is what the
// docs and the OpenAPI document say.
type Cond struct {
	Name  string
	Holds func(c *fieldsync.Caller, r *Record) bool
}

// Conditions rules use.
var (
	// Own: the caller created the record.
	Own = &Cond{"the caller created it", func(c *fieldsync.Caller, r *Record) bool { return r.CreatedBy == c.UserID }}
	// Assigned: the record is assigned to the caller.
	Assigned = &Cond{"assigned to the caller", func(c *fieldsync.Caller, r *Record) bool { return slices.Contains(r.Assignees, c.UserID) }}
)

// In holds while the record's field is one of values.
func In(field string, values ...string) *Cond {
	return &Cond{field + " is " + strings.Join(values, " or "), func(_ *fieldsync.Caller, r *Record) bool {
		return slices.Contains(values, r.GetString(field))
	}}
}

// NotIn holds while the record's field is none of values.
func NotIn(field string, values ...string) *Cond {
	return &Cond{field + " is not " + strings.Join(values, " or "), func(_ *fieldsync.Caller, r *Record) bool {
		return !slices.Contains(values, r.GetString(field))
	}}
}

// Empty holds while the record's list field has no element.
func Empty(field string) *Cond {
	return &Cond{field + " is empty", func(_ *fieldsync.Caller, r *Record) bool { return len(stringsOf(r.Get(field))) == 0 }}
}

// And holds when every one of cs holds.
func And(cs ...*Cond) *Cond {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return &Cond{strings.Join(names, " and "), func(c *fieldsync.Caller, r *Record) bool {
		for _, x := range cs {
			if !x.Holds(c, r) {
				return false
			}
		}
		return true
	}}
}

func (r *Rule) grants(op string, c *fieldsync.Caller, rec *Record) bool {
	return r.Op == op && slices.Contains(r.Roles, c.Role) && (rec == nil || r.When == nil || r.When.Holds(c, rec))
}

func (r *Rule) covers(field string) bool {
	return slices.Contains(r.Fields, AllFields) || slices.Contains(r.Fields, field)
}

// checkCreate answers whether c may create a record of the collection at
// site with fields: forbidden naming site_id when the role may not create
// here at all, or naming the first field the role may not set.
func (coll *Collection) checkCreate(c *fieldsync.Caller, site string, fields map[string]any) error {
	var rules []*Rule
	for i := range coll.Rules {
		if coll.Rules[i].grants(fieldsync.OpCreate, c, nil) {
			rules = append(rules, &coll.Rules[i])
		}
	}
	if len(rules) == 0 || !c.HasSite(site) {
		return &fieldsync.Error{Code: fieldsync.EForbidden, Field: "fields." + SiteField, Message: "may not create this record at this site"}
	}
	return refusedField(c, rules, fields, "may not set this field when creating")
}

// checkUpdate answers whether c may set fields of rec: forbidden naming the
// first field no rule lets the role change in the record's present state.
func (coll *Collection) checkUpdate(c *fieldsync.Caller, rec *Record, fields map[string]any) error {
	var rules []*Rule
	for i := range coll.Rules {
		if coll.Rules[i].grants(fieldsync.OpUpdate, c, rec) {
			rules = append(rules, &coll.Rules[i])
		}
	}
	return refusedField(c, rules, fields, "may not change this field of this record now")
}

func refusedField(c *fieldsync.Caller, rules []*Rule, fields map[string]any, msg string) error {
	names := make([]string, 0, len(fields))
	for name := range fields {
		if name != SiteField {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if !slices.ContainsFunc(rules, func(r *Rule) bool { return r.covers(name) }) {
			return &fieldsync.Error{Code: fieldsync.EForbidden, Field: "fields." + name, Message: string(c.Role) + " " + msg}
		}
	}
	return nil
}

// checkDelete answers whether c may delete rec.
func (coll *Collection) checkDelete(c *fieldsync.Caller, rec *Record) error {
	if !slices.ContainsFunc(coll.Rules, func(r Rule) bool { return r.Op == fieldsync.OpDelete }) {
		return fieldsync.Errorf(fieldsync.EForbidden, "%s are never deleted: they are cancelled, invalidated or closed", coll.Name)
	}
	for i := range coll.Rules {
		if coll.Rules[i].grants(fieldsync.OpDelete, c, rec) {
			return nil
		}
	}
	return fieldsync.Errorf(fieldsync.EForbidden, "%s may not delete this record", c.Role)
}

// validateRules checks a collection's rules once, at engine start: every
// field they name is a declared client field.
func (coll *Collection) validateRules() error {
	for _, r := range coll.Rules {
		switch r.Op {
		case fieldsync.OpCreate, fieldsync.OpUpdate, fieldsync.OpDelete:
		default:
			return fmt.Errorf("sync: collection %s: rule with op %q", coll.Name, r.Op)
		}
		for _, f := range r.Fields {
			if f == AllFields {
				continue
			}
			d := findField(coll.Fields, f)
			if d == nil || !d.Client {
				return fmt.Errorf("sync: collection %s: rule names %q, not a client field", coll.Name, f)
			}
		}
	}
	return nil
}

// RuleText describes the collection's write rules, one sentence per rule, for
// the OpenAPI document and the README.
func (coll *Collection) RuleText() []string {
	out := make([]string, 0, len(coll.Rules)+1)
	for _, r := range coll.Rules {
		roles := make([]string, len(r.Roles))
		for i, x := range r.Roles {
			roles[i] = string(x)
		}
		who := strings.Join(roles, ", ")
		if len(r.Roles) == len(fieldsync.Roles) {
			who = "any role"
		}
		s := r.Op + " by " + who
		if r.When != nil {
			s += " while " + r.When.Name
		}
		if r.Op != fieldsync.OpDelete {
			fields := "every client field"
			if !slices.Contains(r.Fields, AllFields) {
				fields = strings.Join(r.Fields, ", ")
			}
			s += ": " + fields
		}
		out = append(out, s)
	}
	if !slices.ContainsFunc(coll.Rules, func(r Rule) bool { return r.Op == fieldsync.OpDelete }) {
		out = append(out, "delete: never (cancelled, invalidated or closed instead)")
	}
	return out
}
