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

// SessionsByID returns the sessions among ids that exist, in no particular order.
func (s *Store) SessionsByID(ctx context.Context, ids []string) ([]*fieldsync.Session, error) {
	return findAll[*fieldsync.Session](ctx, s.DB.Collection(collSessions), bson.M{"_id": bson.M{"$in": ids}})
}

// SessionsOfUser returns every session (live or not) of user in tenant.
func (s *Store) SessionsOfUser(ctx context.Context, tenant, userID string) ([]*fieldsync.Session, error) {
	return findAll[*fieldsync.Session](ctx, s.DB.Collection(collSessions), bson.M{"tenant": tenant, "user_id": userID})
}

// SwapRefresh atomically replaces the refresh state of the unrevoked session
// next.ID whose current refresh hash is still expectHash and whose seen
// generation is still expectSeen (compare-and-swap in one document update).
// It reports false when another rotation, a first use of the current pair or
// a revocation got there first.
func (s *Store) SwapRefresh(ctx context.Context, expectHash string, expectSeen int64, next *fieldsync.Session) (bool, error) {
	q := bson.M{"_id": next.ID, "refresh_hash": expectHash, "revoked_at": nil, "seen_generation": expectSeen}
	if expectSeen == 0 {
		// Sessions stored before generations were counted lack the field.
		delete(q, "seen_generation")
		q["$or"] = bson.A{bson.M{"seen_generation": 0}, bson.M{"seen_generation": bson.M{"$exists": false}}}
	}
	res, err := s.DB.Collection(collSessions).UpdateOne(ctx, q,
		bson.M{"$set": bson.M{
			"refresh_hash":     next.RefreshHash,
			"used_hashes":      next.UsedHashes,
			"grace_hash":       next.GraceHash,
			"rotated_at":       next.RotatedAt,
			"last_used_at":     next.LastUsedAt,
			"expires_at":       next.ExpiresAt,
			"generation":       next.Generation,
			"grace_generation": next.GraceGeneration,
			"seen_generation":  next.SeenGeneration,
		}})
	if err != nil {
		return false, mapError(err)
	}
	return res.ModifiedCount == 1, nil
}

// MarkGenerationSeen records the first use of generation gen of the
// unrevoked session id, if gen is still its current generation; it reports
// whether it did (false: already marked, rotated on, or revoked).
func (s *Store) MarkGenerationSeen(ctx context.Context, id string, gen int64) (bool, error) {
	res, err := s.DB.Collection(collSessions).UpdateOne(ctx,
		bson.M{"_id": id, "generation": gen, "seen_generation": bson.M{"$lt": gen}, "revoked_at": nil},
		bson.M{"$set": bson.M{"seen_generation": gen}})
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
