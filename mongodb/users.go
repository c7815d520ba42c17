package mongodb

import (
	"context"

	"fieldsync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

const collUsers = "users"

func init() {
	declareIndex(collUsers, "tenant_username", true, "tenant", "username")
	declareIndex(collUsers, "tenant_sites", false, "tenant", "site_ids")
}

// CreateUser inserts u; conflict when the username is taken in its tenant.
func (s *Store) CreateUser(ctx context.Context, u *fieldsync.User) error {
	_, err := s.DB.Collection(collUsers).InsertOne(ctx, u)
	return mapError(err)
}

// UserByID returns the user with id; not_found otherwise.
func (s *Store) UserByID(ctx context.Context, id string) (*fieldsync.User, error) {
	var u fieldsync.User
	if err := s.DB.Collection(collUsers).FindOne(ctx, bson.M{"_id": id}).Decode(&u); err != nil {
		return nil, mapError(err)
	}
	return &u, nil
}

// UsersByID returns the users among ids that exist, in no particular order.
func (s *Store) UsersByID(ctx context.Context, ids []string) ([]*fieldsync.User, error) {
	return findAll[*fieldsync.User](ctx, s.DB.Collection(collUsers), bson.M{"_id": bson.M{"$in": ids}})
}

// UserByUsername returns the user of tenant named username; not_found otherwise.
func (s *Store) UserByUsername(ctx context.Context, tenant, username string) (*fieldsync.User, error) {
	var u fieldsync.User
	if err := s.DB.Collection(collUsers).FindOne(ctx, bson.M{"tenant": tenant, "username": username}).Decode(&u); err != nil {
		return nil, mapError(err)
	}
	return &u, nil
}

// ListUsers returns the users of tenant ordered by username.
func (s *Store) ListUsers(ctx context.Context, tenant string) ([]*fieldsync.User, error) {
	return findAll[*fieldsync.User](ctx, s.DB.Collection(collUsers), bson.M{"tenant": tenant}, options.Find().SetSort(bson.D{{Key: "username", Value: 1}}))
}

// ReplaceUser stores u over the user with u's id and tenant; not_found when absent.
func (s *Store) ReplaceUser(ctx context.Context, u *fieldsync.User) error {
	res, err := s.DB.Collection(collUsers).ReplaceOne(ctx, bson.M{"_id": u.ID, "tenant": u.TenantID}, u)
	if err != nil {
		return mapError(err)
	}
	if res.MatchedCount == 0 {
		return fieldsync.Errorf(fieldsync.ENotFound, "user not found")
	}
	return nil
}

// HasUsers reports whether any tenant has a user (a server with none offers
// the first-run setup).
func (s *Store) HasUsers(ctx context.Context) (bool, error) {
	err := s.DB.Collection(collUsers).FindOne(ctx, bson.M{}, options.FindOne().SetProjection(bson.M{"_id": 1})).Err()
	if err = mapError(err); fieldsync.ErrorCode(err) == fieldsync.ENotFound {
		return false, nil
	}
	return err == nil, err
}
