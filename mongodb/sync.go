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
		var creator, assignee, window bool
		for _, role := range fieldsync.Roles {
			s := fieldsync.ReadScopeOf(role, c.Name)
			creator, assignee, window = creator || s.Creator, assignee || s.Assignee, window || s.Window > 0
		}
		if c.Dated || window {
			// The reports (reports.go), a guard's window (sync/pull.go) and
			// the part of their bootstrap it bounds.
			declareIndex(recordsOf(c.Name), "tenant_site_created", false, recTenant, recSite, recCreated)
		}
		// A guard's or a technician's bootstrap reads their own records
		// (fieldsync.ReadScopeOf), each branch of its $or by position.
		if creator {
			declareIndex(recordsOf(c.Name), "tenant_site_creator_pos", false, recTenant, recSite, keyCreator, recPos)
		}
		if assignee {
			declareIndex(recordsOf(c.Name), "tenant_site_assignee_pos", false, recTenant, recSite, keyAssigned, recPos)
		}
	}
	// The recent change log (synclog.go): a tenant's changes after a position.
	declareIndex("sync_log", "tenant_pos", false, "t", "p")
}
