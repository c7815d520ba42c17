package mongodb

import "fieldsync"

// recordIndexes are the indexes of the records of colls, the synced
// collections (Options.Collections): a collection added to the registry gets
// them. Each synced collection's records are a collection of their own,
// named after it, and are also the change log: a record carries the
// position of its latest change. Equality keys lead, the position range
// last. Every query the store sends is checked against these by
// TestEveryQueryHasAnIndex (api).
func recordIndexes(colls []fieldsync.SyncedCollection) []index {
	var out []index
	for _, c := range colls {
		out = append(out, newIndex(recordsOf(c.Name), "tenant_pos", false, recTenant, recPos),
			newIndex(recordsOf(c.Name), "tenant_site_pos", false, recTenant, recSite, recPos),
			newIndex(recordsOf(c.Name), "tenant_media", false, recTenant, recMedia))
		if c.Units {
			// A unit's history (field/units.go).
			out = append(out, newIndex(recordsOf(c.Name), "tenant_unit", false, recTenant, "unit_id"))
		}
		var creator, assignee, window bool
		for _, role := range fieldsync.Roles {
			s := fieldsync.ReadScopeOf(role, c.Name)
			creator, assignee, window = creator || s.Creator, assignee || s.Assignee, window || s.Window > 0
		}
		if c.Dated || window {
			// The reports (reports.go), a guard's window (sync/pull.go) and
			// the part of their bootstrap it bounds.
			out = append(out, newIndex(recordsOf(c.Name), "tenant_site_created", false, recTenant, recSite, recCreated))
		}
		// A guard's or a technician's bootstrap reads their own records
		// (fieldsync.ReadScopeOf), each branch of its $or by position.
		if creator {
			out = append(out, newIndex(recordsOf(c.Name), "tenant_site_creator_pos", false, recTenant, recSite, keyCreator, recPos))
		}
		if assignee {
			out = append(out, newIndex(recordsOf(c.Name), "tenant_site_assignee_pos", false, recTenant, recSite, keyAssigned, recPos))
		}
		out = append(out, jobIndexes(c.Name)...)
	}
	return out
}

// The recent change log (synclog.go): a tenant's changes after a position.
func init() { declareIndex("sync_log", "tenant_pos", false, "t", "p") }
