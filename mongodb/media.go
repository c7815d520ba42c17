package mongodb

import (
	"context"
	"errors"
	"time"

	"fieldsync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Collections of the media store.
const (
	collMedia  = "media"
	collLeases = "leases"
)

func init() {
	declareIndex(collMedia, "tenant_media", true, "tenant", "media_id")
	declareIndex(collMedia, "status_created", false, "status", "created_at")
	declareIndex(collMedia, "status_checked", false, "status", "checked_at")
	declareIndex(collMedia, "thumb_stored", false, "thumb", "stored_at")
}

// MediaStore keeps media metadata (never bytes) in the media collection.
// Documents are keyed by tenant and client id, so a client id can never reach
// another tenant's media.
type MediaStore struct {
	coll   *mongo.Collection
	leases *mongo.Collection
}

// NewMediaStore returns the media metadata store on s's database.
func NewMediaStore(s *Store) *MediaStore {
	return &MediaStore{coll: s.DB.Collection(collMedia), leases: s.DB.Collection(collLeases)}
}

func mediaKey(tenant, id string) string { return tenant + "/" + id }

// mediaDoc is the stored form: the domain fields plus the key and the sweep's bookkeeping.
type mediaDoc struct {
	Key             string `bson:"_id"`
	fieldsync.Media `bson:",inline"`
	CheckedAt       time.Time `bson:"checked_at"`
}

// InsertMedia stores a new pending media; conflict if tenant already has that id.
func (s *MediaStore) InsertMedia(ctx context.Context, m *fieldsync.Media) error {
	_, err := s.coll.InsertOne(ctx, mediaDoc{Key: mediaKey(m.TenantID, m.ID), Media: *m, CheckedAt: m.CreatedAt})
	return mapError(err)
}

// GetMedia returns tenant's media id; not_found if there is none.
func (s *MediaStore) GetMedia(ctx context.Context, tenant, id string) (*fieldsync.Media, error) {
	var d mediaDoc
	if err := s.coll.FindOne(ctx, bson.M{"_id": mediaKey(tenant, id)}).Decode(&d); err != nil {
		return nil, mapError(err)
	}
	return &d.Media, nil
}

// FindMedia returns those of ids tenant has, in one query.
func (s *MediaStore) FindMedia(ctx context.Context, tenant string, ids []string) ([]fieldsync.Media, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = mediaKey(tenant, id)
	}
	return s.find(ctx, bson.M{"_id": bson.M{"$in": keys}}, 0)
}

func (s *MediaStore) find(ctx context.Context, filter bson.M, limit int64) ([]fieldsync.Media, error) {
	opts := options.Find()
	if limit > 0 {
		opts.SetLimit(limit)
	}
	cur, err := s.coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, mapError(err)
	}
	var docs []mediaDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, mapError(err)
	}
	out := make([]fieldsync.Media, len(docs))
	for i := range docs {
		out[i] = docs[i].Media
	}
	return out, nil
}

// MarkStored turns pending media into stored with what verification learnt
// (m's Width, Height, TakenAt, GPS, Thumb, ThumbKey, StoredAt) and where the
// verified bytes are (Key, and the UploadKey they came from). It answers the media as
// it is afterwards; a media already stored is answered unchanged (idempotent);
// not_found if it is gone.
func (s *MediaStore) MarkStored(ctx context.Context, m *fieldsync.Media) (*fieldsync.Media, error) {
	set := bson.M{"status": fieldsync.MediaStored, "stored_at": m.StoredAt, "updated_at": m.UpdatedAt,
		"thumb": m.Thumb, "checked_at": m.UpdatedAt, "key": m.Key}
	if m.UploadKey != "" {
		set["upload_key"] = m.UploadKey
	}
	if m.ThumbKey != "" {
		set["thumb_key"] = m.ThumbKey
	}
	if m.Width > 0 {
		set["width"], set["height"] = m.Width, m.Height
	}
	if m.TakenAt != nil {
		set["taken_at"] = m.TakenAt
	}
	if m.GPS != nil {
		set["gps"] = m.GPS
	}
	var d mediaDoc
	err := s.coll.FindOneAndUpdate(ctx,
		bson.M{"_id": mediaKey(m.TenantID, m.ID), "status": fieldsync.MediaPending},
		bson.M{"$set": set}, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return s.GetMedia(ctx, m.TenantID, m.ID)
	}
	if err != nil {
		return nil, mapError(err)
	}
	return &d.Media, nil
}

// SetThumbnail records the outcome of making a thumbnail (state ThumbDone with
// thumbKey, or ThumbNone) and the dimensions learnt by decoding, if any.
func (s *MediaStore) SetThumbnail(ctx context.Context, tenant, id, state, thumbKey string, width, height int, now time.Time) error {
	set := bson.M{"thumb": state, "updated_at": now}
	if thumbKey != "" {
		set["thumb_key"] = thumbKey
	}
	if width > 0 {
		set["width"], set["height"] = width, height
	}
	_, err := s.coll.UpdateOne(ctx, bson.M{"_id": mediaKey(tenant, id), "status": fieldsync.MediaStored}, bson.M{"$set": set})
	return mapError(err)
}

// DeleteMedia removes tenant's media id if it still has status; it reports whether it did.
func (s *MediaStore) DeleteMedia(ctx context.Context, tenant, id, status string) (bool, error) {
	r, err := s.coll.DeleteOne(ctx, bson.M{"_id": mediaKey(tenant, id), "status": status})
	if err != nil {
		return false, mapError(err)
	}
	return r.DeletedCount == 1, nil
}

// CountPending counts media of every tenant announced and not yet stored (the
// pending-evidence gauge of /metrics).
func (s *MediaStore) CountPending(ctx context.Context) (int64, error) {
	n, err := s.coll.CountDocuments(ctx, bson.M{"status": fieldsync.MediaPending})
	return n, mapError(err)
}

// StalePending returns up to limit media of any tenant still pending since before cutoff.
func (s *MediaStore) StalePending(ctx context.Context, cutoff time.Time, limit int) ([]fieldsync.Media, error) {
	return s.find(ctx, bson.M{"status": fieldsync.MediaPending, "created_at": bson.M{"$lt": cutoff}}, int64(limit))
}

// UncheckedStored returns up to limit stored media whose citations were last
// checked before cutoff (or never since they were stored).
func (s *MediaStore) UncheckedStored(ctx context.Context, cutoff time.Time, limit int) ([]fieldsync.Media, error) {
	return s.find(ctx, bson.M{"status": fieldsync.MediaStored, "checked_at": bson.M{"$lt": cutoff}}, int64(limit))
}

// MarkChecked records that tenant's media ids were found cited at now.
func (s *MediaStore) MarkChecked(ctx context.Context, tenant string, ids []string, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = mediaKey(tenant, id)
	}
	_, err := s.coll.UpdateMany(ctx, bson.M{"_id": bson.M{"$in": keys}}, bson.M{"$set": bson.M{"checked_at": now}})
	return mapError(err)
}

// ThumbnailBacklog returns up to limit stored media whose thumbnail is still
// to be made although they were stored before cutoff (a crash lost the job).
func (s *MediaStore) ThumbnailBacklog(ctx context.Context, cutoff time.Time, limit int) ([]fieldsync.Media, error) {
	return s.find(ctx, bson.M{"status": fieldsync.MediaStored, "thumb": fieldsync.ThumbPending, "stored_at": bson.M{"$lt": cutoff}}, int64(limit))
}

// ClaimLease takes the named lease for owner until now+ttl if it is free or
// expired, in one atomic findOneAndUpdate; it reports whether owner holds it.
// A holder that dies simply lets it expire.
func (s *MediaStore) ClaimLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (bool, error) {
	err := s.leases.FindOneAndUpdate(ctx,
		bson.M{"_id": name, "until": bson.M{"$lt": now}},
		bson.M{"$set": bson.M{"owner": owner, "until": now.Add(ttl), "claimed_at": now}},
		options.FindOneAndUpdate().SetUpsert(true)).Err()
	switch {
	case err == nil, errors.Is(err, mongo.ErrNoDocuments):
		return true, nil
	case mongo.IsDuplicateKeyError(err):
		return false, nil // held by someone else: the upsert collided with the live lease
	}
	return false, mapError(err)
}

// SetMultipart records mp as the resumable upload of pending media whose
// upload under way is prev ("" for none), in one conditional update, and
// answers the media as it is afterwards: a concurrent start or complete that
// won shows as another upload or as stored. not_found if the media is gone.
func (s *MediaStore) SetMultipart(ctx context.Context, tenant, id string, mp *fieldsync.Multipart, prev string) (*fieldsync.Media, error) {
	filter := bson.M{"_id": mediaKey(tenant, id), "status": fieldsync.MediaPending}
	if prev == "" {
		filter["multipart.upload_id"] = bson.M{"$exists": false}
	} else {
		filter["multipart.upload_id"] = prev
	}
	var d mediaDoc
	err := s.coll.FindOneAndUpdate(ctx, filter, bson.M{"$set": bson.M{"multipart": mp}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return s.GetMedia(ctx, tenant, id)
	}
	if err != nil {
		return nil, mapError(err)
	}
	return &d.Media, nil
}

// ClearMultipart forgets media's resumable upload uploadID if it is still the recorded one.
func (s *MediaStore) ClearMultipart(ctx context.Context, tenant, id, uploadID string) error {
	_, err := s.coll.UpdateOne(ctx, bson.M{"_id": mediaKey(tenant, id), "multipart.upload_id": uploadID},
		bson.M{"$unset": bson.M{"multipart": ""}})
	return mapError(err)
}
