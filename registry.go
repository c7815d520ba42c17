package fieldsync

// SyncedCollection is one entry of the registry of synced collections, the
// one list everything outside the engine derives from: the database
// collections and their indexes (mongodb/), the records an upload may name
// (media/), and the docs (docs/DATA-MODEL.md). The engine's declarations of
// their fields must cover exactly these names (a test checks).
type SyncedCollection struct {
	Name string
	// Evidence: its records cite photo evidence, and an upload may name one
	// of them as the record it belongs to.
	Evidence bool
	// Units: its records may name a unit (unit_id), whose history is read
	// from them.
	Units bool
	// Dated: its records are read by creation time (the reports, a guard's
	// 7-day window of inspections).
	Dated bool
}

// SyncedCollections is the registry of synced collections.
var SyncedCollections = []SyncedCollection{
	{Name: CollSites, Evidence: true},
	{Name: CollCheckpoints, Evidence: true},
	{Name: CollPatrolRoutes, Evidence: true},
	{Name: CollPatrolRounds, Evidence: true},
	{Name: CollInspections, Evidence: true, Units: true, Dated: true},
	{Name: CollWorkOrders, Evidence: true, Units: true, Dated: true},
	{Name: CollComplaints, Evidence: true, Units: true, Dated: true},
	{Name: CollUnits},
	{Name: CollHouseholds, Units: true},
}

// SyncedCollectionNames returns the names of the registered collections for
// which keep is true (nil: all), in registry order.
func SyncedCollectionNames(keep func(SyncedCollection) bool) []string {
	var out []string
	for _, c := range SyncedCollections {
		if keep == nil || keep(c) {
			out = append(out, c.Name)
		}
	}
	return out
}
