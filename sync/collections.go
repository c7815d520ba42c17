package sync

import "fieldsync"

// DefaultCollections are the collections this engine serves. The field-domain
// work adds its declarations here.
func DefaultCollections() []*Collection {
	return FieldCollections(FieldOptions{})
}

// Inspections declares the inspections collection (PRODUCT.md): an issue a
// guard found on patrol.
func Inspections() *Collection {
	return &Collection{
		Name: fieldsync.CollInspections,
		Fields: []Field{
			{Name: SiteField, Kind: String, Max: 64, Client: true, Required: true, Immutable: true},
			{Name: "category", Kind: Enum, Client: true, Required: true,
				Values: []string{"facilities", "fire_safety", "vehicles", "renovation", "sanitation", "greening", "other"}},
			{Name: "severity", Kind: Enum, Client: true, Values: []string{"low", "medium", "high", "critical"}},
			{Name: "description", Kind: String, Max: 4000, Client: true},
			{Name: "location", Kind: String, Max: 200, Client: true},
			unitField,
			{Name: "building", Kind: String, Max: 100, Client: true},
			{Name: "unit", Kind: String, Max: 100, Client: true},
			{Name: "checkpoint_id", Kind: UUID, Client: true},
			{Name: "round_id", Kind: UUID, Client: true},
			{Name: "gps", Kind: GPS, Client: true},
			{Name: "photo_ids", Kind: MediaList, Client: true, AppendOnly: true, MaxItems: 50},
			{Name: "observed_at", Kind: Time, Client: true},
			// Set by the work-order side: the orders raised from this inspection
			// and their assignees (technicians see inspections linked to their orders).
			{Name: "work_order_ids", Kind: UUIDList, AppendOnly: true},
			{Name: "assignee_ids", Kind: UUIDList, Assignee: true},
			// work_orders shows the reporter how the orders raised from it are going.
			workOrdersProgressField,
		},
		Actions: []Action{raiseWorkOrder(FieldOptions{})},
		// Any staff member reports an issue. The reporter completes their
		// report; the desk triages it; a report not yet turned into a work
		// order may be withdrawn by its reporter.
		Rules: []Rule{
			{Op: fieldsync.OpCreate, Roles: everyone, Fields: all},
			{Op: fieldsync.OpUpdate, Roles: everyone, When: Own, Fields: []string{"category", "severity", "description",
				"location", "building", "unit", "unit_id", "checkpoint_id", "round_id", "gps", "photo_ids", "observed_at"}},
			{Op: fieldsync.OpUpdate, Roles: desk, Fields: []string{"category", "severity", "description", "location", "building", "unit", "unit_id", "photo_ids"}},
			{Op: fieldsync.OpDelete, Roles: everyone, When: And(Own, Empty("work_order_ids"))},
			{Op: fieldsync.OpDelete, Roles: adminsOnly},
		},
	}
}
