package mongodb

import (
	"context"
	"time"

	"fieldsync"

	"go.mongodb.org/mongo-driver/v2/bson"
)

const collSessions = "sessions"

func init() {
	declareIndex(collSessions, "tenant_user", false, "tenant", "user_id")
	declareIndex(collSessions, "tenant_device", false, "tenant", "device_id")
}

// CreateSession inserts s.
func (s *Store) CreateSession(ctx context.Context, sess *fieldsync.Session) error {
	_, err := s.DB.Collection(collSessions).InsertOne(ctx, sess)
	return mapError(err)
}

// SessionByID returns the session with id; not_found otherwise.
func (s *Store) SessionByID(ctx context.Context, id string) (*fieldsync.Session, error) {
	var sess fieldsync.Session
	if err := s.DB.Collection(collSessions).FindOne(ctx, bson.M{"_id": id}).Decode(&sess); err != nil {
		return nil, mapError(err)
	}
	return &sess, nil
}

// SessionsOfUser returns every session (live or not) of user in tenant.
func (s *Store) SessionsOfUser(ctx context.Context, tenant, userID string) ([]*fieldsync.Session, error) {
	cur, err := s.DB.Collection(collSessions).Find(ctx, bson.M{"tenant": tenant, "user_id": userID})
	if err != nil {
		return nil, mapError(err)
	}
	var out []*fieldsync.Session
	if err := cur.All(ctx, &out); err != nil {
		return nil, mapError(err)
	}
	return out, nil
}

// SwapRefresh atomically replaces the refresh state of the unrevoked session
// next.ID whose current refresh hash is still expectHash (compare-and-swap in
// one document update). It reports false when another rotation or a
// revocation got there first.
func (s *Store) SwapRefresh(ctx context.Context, expectHash string, next *fieldsync.Session) (bool, error) {
	res, err := s.DB.Collection(collSessions).UpdateOne(ctx,
		bson.M{"_id": next.ID, "refresh_hash": expectHash, "revoked_at": nil},
		bson.M{"$set": bson.M{
			"refresh_hash": next.RefreshHash,
			"used_hashes":  next.UsedHashes,
			"grace_hash":   next.GraceHash,
			"rotated_at":   next.RotatedAt,
			"last_used_at": next.LastUsedAt,
			"expires_at":   next.ExpiresAt,
		}})
	if err != nil {
		return false, mapError(err)
	}
	return res.ModifiedCount == 1, nil
}

// RevokeSessions marks every unrevoked session of f.TenantID matching f
// revoked at now and returns how many it revoked.
func (s *Store) RevokeSessions(ctx context.Context, f fieldsync.SessionFilter, now time.Time, reason string) (int, error) {
	q := bson.M{"tenant": f.TenantID, "revoked_at": nil}
	if f.ID != "" {
		q["_id"] = f.ID
	}
	if f.UserID != "" {
		q["user_id"] = f.UserID
	}
	if f.DeviceID != "" {
		q["device_id"] = f.DeviceID
	}
	res, err := s.DB.Collection(collSessions).UpdateMany(ctx, q,
		bson.M{"$set": bson.M{"revoked_at": now, "revoke_reason": reason}})
	if err != nil {
		return 0, mapError(err)
	}
	return int(res.ModifiedCount), nil
}
