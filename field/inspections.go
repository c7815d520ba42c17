package field

import (
	"fieldsync"
	fsync "fieldsync/sync"
)

// raiseOrderArgs are the arguments of the actions that create a linked work order.
var raiseOrderArgs = []fsync.Field{
	{Name: "work_order_id", Kind: fsync.UUID, Required: true},
	{Name: "title", Kind: fsync.String, Max: 200},
	{Name: "department", Kind: fsync.Enum, Values: Departments},
	{Name: "priority", Kind: fsync.Enum, Values: Priorities},
	{Name: "description", Kind: fsync.String, Max: 4000},
	{Name: "assignee_id", Kind: fsync.UUID},
}

// raiseWorkOrder turns an inspection into a linked work order, in the same
// push: customer service and supervisors always, a guard when the site allows it.
func raiseWorkOrder(opts Options) fsync.Action {
	return fsync.Action{
		Name:  "raise_work_order",
		Roles: append([]fieldsync.Role{fieldsync.RoleGuard}, fieldsync.DeskRoles...),
		Args:  raiseOrderArgs,
		Apply: func(a *fsync.ActionContext) error {
			r := a.Record
			if a.Caller.Role == fieldsync.RoleGuard {
				sites, err := a.Lookup(fieldsync.CollSites, r.SiteID)
				if err != nil {
					return err
				}
				if len(sites) == 0 || sites[0].Get("guards_raise_work_orders") != true {
					return fieldsync.Errorf(fieldsync.EForbidden, "guards may not raise work orders at this site")
				}
			}
			title := r.GetString("description")
			if t := []rune(title); len(t) > 80 {
				title = string(t[:80]) // characters, never half of one
			}
			set := map[string]any{"source": "inspection", "inspection_id": r.ID, "category": r.GetString("category"), "title": title,
				"priority": priorityOf(r.GetString("severity"))}
			for _, f := range []string{"description", "location", "building", "unit", "unit_id"} {
				if v := r.Get(f); v != nil {
					set[f] = v
				}
			}
			if p := r.Get("photo_ids"); p != nil {
				set["before_photo_ids"] = p
			}
			o, err := raiseOrder(a, opts, set)
			if err != nil {
				return err
			}
			r.Append("work_order_ids", o.ID)
			if asg := o.GetString("assignee_id"); asg != "" {
				r.Append("assignee_ids", asg)
			}
			list, _ := r.Get("work_orders").([]any)
			r.Set("work_orders", append(list, orderProgress(o)))
			return nil
		},
	}
}

// priorityOf maps an inspection's severity to a work order's priority.
func priorityOf(severity string) string {
	switch severity {
	case "critical":
		return fieldsync.PriorityUrgent
	case "low":
		return fieldsync.PriorityLow
	}
	return fieldsync.PriorityNormal
}

// raiseOrder queues the creation of the work order an action raises: base
// fields from the source record, overridden by the action's arguments. Only
// the desk may assign it at once. It returns the order as it will be created.
func raiseOrder(a *fsync.ActionContext, opts Options, set map[string]any) (*fsync.Record, error) {
	for _, f := range []string{"title", "department", "priority", "category", "description"} {
		if v, ok := a.Args[f]; ok {
			set[f] = v
		}
	}
	if t, _ := set["title"].(string); t == "" {
		return nil, fieldsync.FieldErrorf("args.title", "required")
	}
	id := argString(a, "work_order_id")
	if found, err := a.Lookup(fieldsync.CollWorkOrders, id); err != nil {
		return nil, err
	} else if len(found) > 0 {
		return nil, fieldsync.FieldErrorf("args.work_order_id", "a work order with this id exists")
	}
	tl := []any{timelineEntry(a.Now, a.Caller.UserID, a.Caller.Name, "create", "", fieldsync.WOOpen, a.Record.Collection+" "+a.Record.ID)}
	set["status"] = fieldsync.WOOpen
	if asg := argString(a, "assignee_id"); asg != "" {
		if !deskRole(a.Caller) {
			return nil, fieldsync.Errorf(fieldsync.EForbidden, "only customer service assigns work orders")
		}
		dept, _ := set["department"].(string)
		if dept == "" {
			dept = defaultDepartment
		}
		u, err := opts.checkAssignee(a, a.Record.SiteID, dept, asg)
		if err != nil {
			return nil, err
		}
		set["status"], set["assignee_id"], set["assigned_at"] = fieldsync.WOAssigned, asg, a.Now
		if u.Name != "" {
			set["assignee_name"] = u.Name
		}
		tl = append(tl, timelineEntry(a.Now, a.Caller.UserID, a.Caller.Name, "assign", fieldsync.WOOpen, fieldsync.WOAssigned, u.Name))
	}
	set["timeline"] = tl
	a.Write(fsync.Write{Collection: fieldsync.CollWorkOrders, ID: id, Create: true, SiteID: a.Record.SiteID, Set: set})
	o := &fsync.Record{ID: id, Fields: map[string]any{}}
	for k, v := range set {
		o.Set(k, v)
	}
	return o, nil
}

// Inspections declares the inspections collection (PRODUCT.md): an issue a
// guard found on patrol.
func Inspections(opts Options) *fsync.Collection {
	return &fsync.Collection{
		Name: fieldsync.CollInspections,
		Fields: []fsync.Field{
			siteField,
			{Name: "category", Kind: fsync.Enum, Client: true, Required: true,
				Values: []string{"facilities", "fire_safety", "vehicles", "renovation", "sanitation", "greening", "other"}},
			{Name: "severity", Kind: fsync.Enum, Client: true, Values: []string{"low", "medium", "high", "critical"}},
			{Name: "description", Kind: fsync.String, Max: 4000, Client: true},
			{Name: "location", Kind: fsync.String, Max: 200, Client: true},
			unitField,
			{Name: "building", Kind: fsync.String, Max: 100, Client: true},
			{Name: "unit", Kind: fsync.String, Max: 100, Client: true},
			{Name: "checkpoint_id", Kind: fsync.UUID, Client: true},
			{Name: "round_id", Kind: fsync.UUID, Client: true},
			{Name: "gps", Kind: fsync.GPS, Client: true},
			{Name: "photo_ids", Kind: fsync.MediaList, Client: true, AppendOnly: true, MaxItems: 50},
			{Name: "observed_at", Kind: fsync.Time, Client: true},
			// Set by the work-order side: the orders raised from this inspection
			// and their assignees (technicians see inspections linked to their orders).
			{Name: "work_order_ids", Kind: fsync.UUIDList, AppendOnly: true},
			{Name: "assignee_ids", Kind: fsync.UUIDList, Assignee: true},
			// work_orders shows the reporter how the orders raised from it are going.
			workOrdersProgressField,
		},
		Actions: []fsync.Action{raiseWorkOrder(opts)},
		// Any staff member reports an issue. The reporter completes their
		// report; the desk triages it; a report not yet turned into a work
		// order may be withdrawn by its reporter.
		Rules: []fsync.Rule{
			{Op: fieldsync.OpCreate, Roles: everyone, Fields: all},
			{Op: fieldsync.OpUpdate, Roles: everyone, When: fsync.Own, Fields: []string{"category", "severity", "description",
				"location", "building", "unit", "unit_id", "checkpoint_id", "round_id", "gps", "photo_ids", "observed_at"}},
			{Op: fieldsync.OpUpdate, Roles: desk, Fields: []string{"category", "severity", "description", "location", "building", "unit", "unit_id", "photo_ids"}},
			{Op: fieldsync.OpDelete, Roles: everyone, When: fsync.And(fsync.Own, fsync.Empty("work_order_ids"))},
			{Op: fieldsync.OpDelete, Roles: adminsOnly},
		},
	}
}
