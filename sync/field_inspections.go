package sync

import "fieldsync"

// raiseOrderArgs are the arguments of the actions that create a linked work order.
var raiseOrderArgs = []Field{
	{Name: "work_order_id", Kind: UUID, Required: true},
	{Name: "title", Kind: String, Max: 200},
	{Name: "department", Kind: Enum, Values: Departments},
	{Name: "priority", Kind: Enum, Values: Priorities},
	{Name: "description", Kind: String, Max: 4000},
	{Name: "assignee_id", Kind: UUID},
}

// raiseWorkOrder turns an inspection into a linked work order, in the same
// push: customer service and supervisors always, a guard when the site allows it.
func raiseWorkOrder(opts FieldOptions) Action {
	return Action{
		Name:  "raise_work_order",
		Roles: append([]fieldsync.Role{fieldsync.RoleGuard}, fieldsync.DeskRoles...),
		Args:  raiseOrderArgs,
		Apply: func(a *ActionContext) error {
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
				r.Set("assignee_ids", unionStrings(stringsOf(r.Get("assignee_ids")), []string{asg}))
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
func raiseOrder(a *ActionContext, opts FieldOptions, set map[string]any) (*Record, error) {
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
	a.Write(Write{Collection: fieldsync.CollWorkOrders, ID: id, Create: true, SiteID: a.Record.SiteID, Set: set})
	o := &Record{ID: id, Fields: map[string]any{}}
	for k, v := range set {
		o.Set(k, v)
	}
	return o, nil
}
