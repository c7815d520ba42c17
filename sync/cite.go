package sync

import (
	"context"
	"slices"

	"fieldsync"
)

// citeRules asks Options.Cites, once per push and before anything is
// applied, about every media id the batch's mutations name, and hands the
// answer to each op (checkCites uses it per mutation, in memory).
func (e *Engine) citeRules(ctx context.Context, c *fieldsync.Caller, ops []*op) error {
	if e.opts.Cites == nil {
		return nil
	}
	var ids []string
	for _, o := range ops {
		for _, f := range o.mediaFields() {
			ids = append(ids, f.ids...)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rules, err := e.opts.Cites.CiteRules(ctx, c, ids)
	if err != nil {
		return err
	}
	for _, o := range ops {
		o.cites = rules
	}
	return nil
}

// citedIn is the media ids one field or argument of a mutation names.
type citedIn struct {
	field string // as named in errors: fields.photo_ids, args.signature_media_id
	ids   []string
}

// mediaFields lists the media ids the op names, field by field in declared order.
func (o *op) mediaFields() []citedIn {
	var decl []Field
	var vals map[string]any
	prefix := "fields."
	switch {
	case o.m == nil:
		return nil
	case o.act != nil:
		decl, vals, prefix = o.act.Args, o.args, "args."
	default:
		decl, vals = o.coll.Fields, o.fields
	}
	var out []citedIn
	for _, f := range decl {
		if f.Kind != Media && f.Kind != MediaList {
			continue
		}
		if ids := stringsOf(vals[f.Name]); len(ids) > 0 {
			out = append(out, citedIn{prefix + f.Name, ids})
		}
	}
	return out
}

// checkCites refuses a mutation that newly cites, from a record of site
// already citing before, media that exists and that the caller may not cite
// from there (fieldsync.CiteRule): forbidden, naming the field. Ids the
// record cited already, and ids not announced yet, pass.
func (o *op) checkCites(site string, before []string) error {
	for _, f := range o.mediaFields() {
		for _, id := range f.ids {
			r, exists := o.cites[id]
			if exists && !slices.Contains(before, id) && !r.Allows(site) {
				return &fieldsync.Error{Code: fieldsync.EForbidden, Field: f.field,
					Message: "may not cite media " + id + ": not uploaded by you, or not evidence of this record's site you may see"}
			}
		}
	}
	return nil
}
