package sync

import (
	"context"

	"fieldsync"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Query selects live records of one collection of a tenant, for domain code
// that reads records by their fields (a unit's history) without knowing the
// database.
type Query struct {
	// Site, when set, keeps the records of that site.
	Site string
	// Equal keeps the records whose field has the value: a declared field
	// of kind String, Enum or UUID (stored as the string it is).
	Equal map[string]string
}

// Find returns the live records of tenant's collection that q selects, in
// no particular order (one query; the store indexes the fields domain code
// queries, mongodb.Options.Collections). invalid_input for a field the
// collection does not declare as a string.
func (e *Engine) Find(ctx context.Context, tenant, collection string, q Query) ([]*Record, error) {
	coll := e.colls[collection]
	if coll == nil {
		return nil, fieldsync.Errorf(fieldsync.ENotFound, "no such collection")
	}
	filter := bson.M{keyTenant: tenant, keyDeleted: false}
	if q.Site != "" {
		filter[keySite] = q.Site
	}
	for k, v := range q.Equal {
		if f := coll.Field(k); f == nil || (f.Kind != String && f.Kind != Enum && f.Kind != UUID) {
			return nil, fieldsync.FieldErrorf(k, "not a string field of %s", collection)
		}
		filter[k] = v
	}
	recs, err := findAll[*Record](ctx, e.recsFor(collection), filter)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if err := normalizeRecord(r); err != nil {
			return nil, err
		}
	}
	return recs, nil
}
