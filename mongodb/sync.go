package mongodb

import "fieldsync"

// Indexes of the records, derived from the registry of synced collections
// (fieldsync.SyncedCollections): a collection added there gets them. Each
// synced collection's records are a collection of their own, named after
// it, and are also the change log: a record carries the position of its
// latest change. Equality keys lead, the position range last. Every query
// the store sends is checked against these by TestEveryQueryHasAnIndex (api).
func init() {
	for _, c := range fieldsync.SyncedCollections {
		declareIndex(recordsOf(c.Name), "tenant_pos", false, recTenant, recPos)
		declareIndex(recordsOf(c.Name), "tenant_site_pos", false, recTenant, recSite, recPos)
		declareIndex(recordsOf(c.Name), "tenant_media", false, recTenant, recMedia)
		if c.Units {
			// A unit's history (sync/field_units.go).
			declareIndex(recordsOf(c.Name), "tenant_unit", false, recTenant, "unit_id")
		}
		if c.Dated {
			// The reports (reports.go) and a guard's window (sync/pull.go).
			declareIndex(recordsOf(c.Name), "tenant_site_created", false, recTenant, recSite, recCreated)
		}
	}
	// A technician's or a guard's bootstrap reads only what they may read
	// (sync.readScope): their own records, those assigned to them.
	for _, name := range []string{fieldsync.CollPatrolRounds, fieldsync.CollInspections, fieldsync.CollWorkOrders, fieldsync.CollComplaints} {
		declareIndex(recordsOf(name), "tenant_site_creator_pos", false, recTenant, recSite, keyCreator, recPos)
		declareIndex(recordsOf(name), "tenant_site_assignee_pos", false, recTenant, recSite, keyAssigned, recPos)
	}
	// The recent change log (synclog.go): a tenant's changes after a position.
	declareIndex("sync_log", "tenant_pos", false, "t", "p")
}
