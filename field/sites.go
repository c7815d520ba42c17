package field

import (
	"fieldsync"
	fsync "fieldsync/sync"
)

// Default site settings.
const (
	// DefaultGPSThreshold is how far (meters) a scan may be from its checkpoint before it is flagged.
	DefaultGPSThreshold = 50.0
)

// Sites declares the sites collection: reference data written by admins. A
// site record's id is its own site_id.
func Sites() *fsync.Collection {
	return &fsync.Collection{
		Name: fieldsync.CollSites,
		Fields: []fsync.Field{
			siteField,
			{Name: "name", Kind: fsync.String, Max: 200, Client: true, Required: true},
			{Name: "address", Kind: fsync.String, Max: 400, Client: true},
			{Name: "location", Kind: fsync.GPS, Client: true},
			// gps_threshold_m: a scan farther than this from its checkpoint is flagged.
			{Name: "gps_threshold_m", Kind: fsync.Number, Min: 1, Max: 10000, Client: true, Default: DefaultGPSThreshold},
			// guards_raise_work_orders lets guards turn their inspections into work orders.
			{Name: "guards_raise_work_orders", Kind: fsync.Bool, Client: true, Default: false},
		},
		Rules: referenceRules,
	}
}

// Checkpoints declares the checkpoints collection: places on patrol routes,
// each with the code printed on its QR/NFC tag.
func Checkpoints() *fsync.Collection {
	return &fsync.Collection{
		Name: fieldsync.CollCheckpoints,
		Fields: []fsync.Field{
			siteField,
			{Name: "name", Kind: fsync.String, Max: 200, Client: true, Required: true},
			{Name: "code", Kind: fsync.String, Max: 128, Client: true, Required: true},
			{Name: "location", Kind: fsync.GPS, Client: true},
			{Name: "building", Kind: fsync.String, Max: 100, Client: true},
			{Name: "floor", Kind: fsync.String, Max: 32, Client: true},
		},
		Rules: referenceRules,
	}
}

// PatrolRoutes declares the patrol_routes collection: an ordered list of
// checkpoints, each with its time window in minutes from the round's start.
func PatrolRoutes() *fsync.Collection {
	return &fsync.Collection{
		Name: fieldsync.CollPatrolRoutes,
		Fields: []fsync.Field{
			siteField,
			{Name: "name", Kind: fsync.String, Max: 200, Client: true, Required: true},
			{Name: "stops", Kind: fsync.ObjectList, Client: true, Required: true, MaxItems: 200, Item: []fsync.Field{
				{Name: "checkpoint_id", Kind: fsync.UUID, Required: true},
				{Name: "window_start_min", Kind: fsync.Int, Min: 0, Max: 1440},
				{Name: "window_end_min", Kind: fsync.Int, Min: 0, Max: 1440}}},
			{Name: "active", Kind: fsync.Bool, Client: true, Default: true},
		},
		Rules: referenceRules,
	}
}
