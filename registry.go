package fieldsync

// SyncedCollection is one entry of the registry of synced collections
// (field.Registry, derived from the field package's declarations), the one
// list everything outside the engine derives from: cmd/ passes it to the
// database (mongodb.Options: the collections and their indexes) and to the
// evidence service (media.Options: the records an upload may name); tests
// check the OpenAPI record schemas and docs/DATA-MODEL.md against it.
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
