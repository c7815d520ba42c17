package mongodb

// Indexes of the sync engine's collections (package sync owns the queries).
// sync_records is both the records and the change log: a record carries the
// position of its latest change. Equality keys lead, the position range last.
func init() {
	declareIndex("sync_records", "tenant_pos", false, "t", "p")
	declareIndex("sync_records", "tenant_site_pos", false, "t", "s", "p")
	declareIndex("sync_records", "tenant_coll_del", false, "t", "c", "del")
	declareIndex("sync_records", "tenant_media", false, "t", "med")
	// The recent change log (sync/log.go): a tenant's changes after a position.
	declareIndex("sync_log", "tenant_pos", false, "t", "p")
}
