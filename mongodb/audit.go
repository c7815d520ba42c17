package mongodb

import (
	"context"
	"time"

	fsync "fieldsync/sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Indexes of the audit trail (package sync chains and verifies it): a
// record's entries, and the retention sweep by time.
func init() {
	declareIndex(AuditCollection, "tenant_record", false, "t", "c", "r", "v")
	declareIndex(AuditCollection, "tenant_at", false, "t", "at")
}

// auditDoc is an audit entry (fsync.AuditLink) as stored in AuditCollection.
type auditDoc struct {
	ID         string    `bson:"_id"`
	Tenant     string    `bson:"t"`
	Collection string    `bson:"c"`
	Record     string    `bson:"r"`
	Site       string    `bson:"s"`
	Version    int64     `bson:"v"`
	Op         string    `bson:"op"`
	Action     string    `bson:"act,omitempty"`
	MutationID string    `bson:"mid,omitempty"`
	User       string    `bson:"u"`
	UserName   string    `bson:"un,omitempty"`
	Device     string    `bson:"d"`
	At         time.Time `bson:"at"`
	ClientTime string    `bson:"ct,omitempty"`
	Changes    string    `bson:"ch"`
	PrevHash   string    `bson:"ph"`
	PrevAt     time.Time `bson:"pa,omitempty"`
	Hash       string    `bson:"h"`
}

// insertAudit stores sealed entries. An entry already there (a retried
// write of the same version and content) is fine.
func (s *SyncStore) insertAudit(ctx context.Context, links []*fsync.AuditLink) error {
	if len(links) == 0 {
		return nil
	}
	docs := make([]any, len(links))
	for i, l := range links {
		d := auditDoc(*l)
		docs[i] = &d
	}
	_, err := s.inserting(AuditCollection).InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if _, ok := DuplicateKeys(err); !ok {
		return mapError(err)
	}
	return nil
}

// AuditOf implements fsync.AuditStore.
func (s *SyncStore) AuditOf(ctx context.Context, tenant, coll, id string) ([]*fsync.AuditLink, error) {
	f := bson.M{"t": tenant, "c": coll}
	if id != "" {
		f["r"] = id
	}
	docs, err := findAll[auditDoc](ctx, s.db.Collection(AuditCollection), f)
	if err != nil {
		return nil, err
	}
	out := make([]*fsync.AuditLink, len(docs))
	for i := range docs {
		l := fsync.AuditLink(docs[i])
		out[i] = &l
	}
	return out, nil
}

// SweepAudit implements fsync.AuditStore.
// On the embedded FerretDB the side door names the expired entries and each
// is deleted by _id (an index probe behind the front; an entry never
// changes, so its id is enough): FerretDB would decode every entry of every
// tenant, under the front's write lock.
func (s *SyncStore) SweepAudit(ctx context.Context, tenant string, cutoff time.Time) error {
	if s.side != nil {
		return s.sweepAuditByID(ctx, tenant, cutoff)
	}
	_, err := s.db.Collection(AuditCollection).DeleteMany(ctx, bson.M{"t": tenant, "at": bson.M{"$lt": cutoff}})
	return mapError(err)
}

// sweepBatch is how many expired audit entries one delete command removes.
const sweepBatch = 500

func (s *SyncStore) sweepAuditByID(ctx context.Context, tenant string, cutoff time.Time) error {
	for {
		ids, err := s.side.expiredAudit(ctx, tenant, cutoff, sweepBatch)
		if err != nil || len(ids) == 0 {
			return mapError(err)
		}
		models := make([]mongo.WriteModel, len(ids))
		for i, id := range ids {
			models[i] = mongo.NewDeleteOneModel().SetFilter(bson.M{"_id": id})
		}
		if _, err := s.db.Collection(AuditCollection).BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
			return mapError(err)
		}
		if len(ids) < sweepBatch {
			return nil
		}
	}
}
