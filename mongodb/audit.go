package mongodb

// Indexes of the audit trail (package sync writes and reads it): a record's
// entries, and the retention sweep by time.
func init() {
	declareIndex("sync_audit", "tenant_record", false, "t", "c", "r", "v")
	declareIndex("sync_audit", "tenant_at", false, "t", "at")
}
