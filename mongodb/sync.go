package mongodb

import "fieldsync"

// Indexes of the sync engine's collections (package sync owns the queries).
// Each synced collection's records are a collection of their own, and are
// also the change log: a record carries the position of its latest change.
// Equality keys lead, the position range last.
func init() {
	for _, c := range []string{fieldsync.CollSites, fieldsync.CollCheckpoints, fieldsync.CollPatrolRoutes,
		fieldsync.CollPatrolRounds, fieldsync.CollInspections, fieldsync.CollWorkOrders, fieldsync.CollComplaints,
		fieldsync.CollUnits, fieldsync.CollHouseholds} {
		declareIndex(recordsOf(c), "tenant_pos", false, "t", "p")
		declareIndex(recordsOf(c), "tenant_site_pos", false, "t", "s", "p")
		declareIndex(recordsOf(c), "tenant_del", false, "t", "del")
		declareIndex(recordsOf(c), "tenant_media", false, "t", "med")
	}
	// A unit's history (sync/field_units.go).
	for _, c := range []string{fieldsync.CollInspections, fieldsync.CollWorkOrders, fieldsync.CollComplaints} {
		declareIndex(recordsOf(c), "tenant_unit", false, "t", "f.unit_id")
	}
	// The recent change log (sync/log.go): a tenant's changes after a position.
	declareIndex("sync_log", "tenant_pos", false, "t", "p")
}
