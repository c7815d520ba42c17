package sync

import "fieldsync"

// Default site settings.
const (
	// DefaultGPSThreshold is how far (meters) a scan may be from its checkpoint before it is flagged.
	DefaultGPSThreshold = 50.0
)

// Sites declares the sites collection: reference data written by admins. A
// site record's id is its own site_id.
func Sites() *Collection {
	return &Collection{
		Name: fieldsync.CollSites,
		Fields: []Field{
			siteField,
			{Name: "name", Kind: String, Max: 200, Client: true, Required: true},
			{Name: "address", Kind: String, Max: 400, Client: true},
			{Name: "location", Kind: GPS, Client: true},
			// gps_threshold_m: a scan farther than this from its checkpoint is flagged.
			{Name: "gps_threshold_m", Kind: Number, Min: 1, Max: 10000, Client: true, Default: DefaultGPSThreshold},
			// guards_raise_work_orders lets guards turn their inspections into work orders.
			{Name: "guards_raise_work_orders", Kind: Bool, Client: true, Default: false},
		},
		Rules: referenceRules,
	}
}

// Checkpoints declares the checkpoints collection: places on patrol routes,
// each with the code printed on its QR/NFC tag.
func Checkpoints() *Collection {
	return &Collection{
		Name: fieldsync.CollCheckpoints,
		Fields: []Field{
			siteField,
			{Name: "name", Kind: String, Max: 200, Client: true, Required: true},
			{Name: "code", Kind: String, Max: 128, Client: true, Required: true},
			{Name: "location", Kind: GPS, Client: true},
			{Name: "building", Kind: String, Max: 100, Client: true},
			{Name: "floor", Kind: String, Max: 32, Client: true},
		},
		Rules: referenceRules,
	}
}

// PatrolRoutes declares the patrol_routes collection: an ordered list of
// checkpoints, each with its time window in minutes from the round's start.
func PatrolRoutes() *Collection {
	return &Collection{
		Name: fieldsync.CollPatrolRoutes,
		Fields: []Field{
			siteField,
			{Name: "name", Kind: String, Max: 200, Client: true, Required: true},
			{Name: "stops", Kind: ObjectList, Client: true, Required: true, MaxItems: 200, Item: []Field{
				{Name: "checkpoint_id", Kind: UUID, Required: true},
				{Name: "window_start_min", Kind: Int, Min: 0, Max: 1440},
				{Name: "window_end_min", Kind: Int, Min: 0, Max: 1440}}},
			{Name: "active", Kind: Bool, Client: true, Default: true},
		},
		Rules: referenceRules,
	}
}
