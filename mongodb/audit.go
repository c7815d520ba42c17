package mongodb

import (
	"context"
	"time"

	fsync "fieldsync/sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
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

// encodeAudit is l's stored document: the bytes bson.Marshal makes of
// auditDoc(*l), appended directly (a push encodes one entry per record,
// and the reflective encoder cost as much as the rest of the insert).
func encodeAudit(l *fsync.AuditLink) bson.Raw {
	str := func(dst []byte, key, v string, omitEmpty bool) []byte {
		if omitEmpty && v == "" {
			return dst
		}
		return bsoncore.AppendStringElement(dst, key, v)
	}
	n := 160 + len(l.ID) + len(l.Tenant) + len(l.Collection) + len(l.Record) + len(l.Site) + len(l.Op) + len(l.Action) +
		len(l.MutationID) + len(l.User) + len(l.UserName) + len(l.Device) + len(l.ClientTime) + len(l.Changes) + len(l.PrevHash) + len(l.Hash)
	idx, b := bsoncore.ReserveLength(make([]byte, 0, n))
	b = str(b, "_id", l.ID, false)
	b = str(b, "t", l.Tenant, false)
	b = str(b, "c", l.Collection, false)
	b = str(b, "r", l.Record, false)
	b = str(b, "s", l.Site, false)
	b = bsoncore.AppendInt64Element(b, "v", l.Version)
	b = str(b, "op", l.Op, false)
	b = str(b, "act", l.Action, true)
	b = str(b, "mid", l.MutationID, true)
	b = str(b, "u", l.User, false)
	b = str(b, "un", l.UserName, true)
	b = str(b, "d", l.Device, false)
	b = bsoncore.AppendDateTimeElement(b, "at", int64(bson.NewDateTimeFromTime(l.At)))
	b = str(b, "ct", l.ClientTime, true)
	b = str(b, "ch", l.Changes, false)
	b = str(b, "ph", l.PrevHash, false)
	if !l.PrevAt.IsZero() {
		b = bsoncore.AppendDateTimeElement(b, "pa", int64(bson.NewDateTimeFromTime(l.PrevAt)))
	}
	b = str(b, "h", l.Hash, false)
	b, _ = bsoncore.AppendDocumentEnd(b, idx)
	return b
}

// insertAudit stores sealed entries. An entry already there (a retried
// write of the same version and content) is fine.
func (s *SyncStore) insertAudit(ctx context.Context, links []*fsync.AuditLink) error {
	if len(links) == 0 {
		return nil
	}
	docs := make([]any, len(links))
	for i, l := range links {
		docs[i] = encodeAudit(l)
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
