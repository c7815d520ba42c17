package mongodb

import (
	"context"

	"fieldsync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

const defaultTenantID = "default_tenant"

// DefaultTenant returns the tenant recorded for logins that name none, or "" when none is.
func (s *Store) DefaultTenant(ctx context.Context) (string, error) {
	var doc struct {
		Value string `bson:"value"`
	}
	err := s.DB.Collection("fieldsync_meta").FindOne(ctx, bson.M{"_id": defaultTenantID}).Decode(&doc)
	if err = mapError(err); fieldsync.ErrorCode(err) == fieldsync.ENotFound {
		return "", nil
	}
	return doc.Value, err
}

// SetDefaultTenantIfUnset records tenant as the default unless one is recorded already.
func (s *Store) SetDefaultTenantIfUnset(ctx context.Context, tenant string) error {
	_, err := s.DB.Collection("fieldsync_meta").UpdateOne(ctx, bson.M{"_id": defaultTenantID},
		bson.M{"$setOnInsert": bson.M{"value": tenant}}, options.UpdateOne().SetUpsert(true))
	if fieldsync.ErrorCode(mapError(err)) == fieldsync.EConflict {
		return nil // a concurrent seed recorded one first
	}
	return mapError(err)
}
