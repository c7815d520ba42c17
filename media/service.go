package media

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fieldsync"

	"github.com/minio/minio-go/v7"
	"golang.org/x/image/font/opentype"
)

// Defaults of Options.
const (
	DefaultMaxBytes        = 20 << 20
	DefaultUploadExpiry    = 15 * time.Minute
	DefaultDownloadExpiry  = 5 * time.Minute
	DefaultCleanupAge      = 7 * 24 * time.Hour
	DefaultCleanupInterval = 10 * time.Minute
	DefaultThumbnailSize   = 320
)

// Store keeps media metadata. mongodb.MediaStore implements it.
type Store interface {
	// InsertMedia stores new pending media; conflict if the tenant has the id.
	InsertMedia(ctx context.Context, m *fieldsync.Media) error
	// GetMedia returns a tenant's media; not_found.
	GetMedia(ctx context.Context, tenant, id string) (*fieldsync.Media, error)
	// FindMedia returns those of ids the tenant has.
	FindMedia(ctx context.Context, tenant string, ids []string) ([]fieldsync.Media, error)
	// MarkStored turns pending media stored; already stored is answered unchanged; not_found.
	MarkStored(ctx context.Context, m *fieldsync.Media) (*fieldsync.Media, error)
	// SetThumbnail records a thumbnail outcome and decoded dimensions.
	SetThumbnail(ctx context.Context, tenant, id, state, thumbKey string, width, height int, now time.Time) error
	// DeleteMedia removes media that still has status, reporting whether it did.
	DeleteMedia(ctx context.Context, tenant, id, status string) (bool, error)
	// StalePending lists media pending since before cutoff.
	StalePending(ctx context.Context, cutoff time.Time, limit int) ([]fieldsync.Media, error)
	// UncheckedStored lists stored media whose citations were last checked before cutoff.
	UncheckedStored(ctx context.Context, cutoff time.Time, limit int) ([]fieldsync.Media, error)
	// MarkChecked records that media were found cited at now.
	MarkChecked(ctx context.Context, tenant string, ids []string, now time.Time) error
	// ThumbnailBacklog lists stored media stored before cutoff still waiting for a thumbnail.
	ThumbnailBacklog(ctx context.Context, cutoff time.Time, limit int) ([]fieldsync.Media, error)
	// SetMultipart records mp as the resumable upload of pending media whose
	// upload under way is prev ("" for none) and answers the media as it is
	// afterwards (another's upload, or stored, when a concurrent start or
	// complete won); not_found.
	SetMultipart(ctx context.Context, tenant, id string, mp *fieldsync.Multipart, prev string) (*fieldsync.Media, error)
	// ClearMultipart forgets media's resumable upload uploadID, if it is still the one recorded.
	ClearMultipart(ctx context.Context, tenant, id, uploadID string) error
	// ClaimLease takes a named expiring lease for owner; it reports whether owner holds it.
	ClaimLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (bool, error)
}

// Options tune a Service; zero values mean the defaults above.
type Options struct {
	// MaxBytes bounds one photo (kind photo; media announced before kinds).
	MaxBytes int64
	// MaxBytesByKind bounds one object of the other kinds (signature, video,
	// audio, document); a kind left out has its DefaultMaxBytes<Kind>.
	MaxBytesByKind map[string]int64
	// PartSize is the size of the parts of resumable uploads (at least and
	// by default MinPartSize, the object store's minimum); larger uploads
	// get larger parts so that none needs more than MaxParts.
	PartSize int64
	// UploadExpiry is how long a presigned upload URL works.
	UploadExpiry time.Duration
	// DownloadExpiry is how long a download URL works.
	DownloadExpiry time.Duration
	// CleanupAge is how long media may stay pending, or stored without any record citing it.
	CleanupAge time.Duration
	// CleanupInterval is how often Run sweeps (cluster-wide, through a lease).
	CleanupInterval time.Duration
	// ThumbnailSize is the longest side of thumbnails, in pixels.
	ThumbnailSize int
	// MaxPixels is the largest image (width × height) decoded (default
	// DefaultMaxPixels); larger photos are stored with no thumbnail.
	MaxPixels int64
	// MaxDecodes bounds the images decoded at once (default GOMAXPROCS):
	// memory stays below about MaxDecodes × MaxPixels × 4 bytes whatever is uploaded.
	MaxDecodes int
	// Labels names sites and places on stamped images (nil: site ids only).
	Labels Labeler
	// StampFont is a font used on stamped images for what the bundled Go font
	// has no glyph for (a CJK font for Chinese site names; ParseFont).
	StampFont *opentype.Font
	// Collections are the synced collections (the field package's registry,
	// passed by cmd/): an upload may name a record of one marked Evidence as
	// the record it belongs to; none: no upload names a record.
	Collections []fieldsync.SyncedCollection
	// Instance names this process in leases (random when empty).
	Instance string
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	limits := map[string]int64{fieldsync.KindSignature: DefaultMaxBytesSignature, fieldsync.KindVideo: DefaultMaxBytesVideo,
		fieldsync.KindAudio: DefaultMaxBytesAudio, fieldsync.KindDocument: DefaultMaxBytesDocument}
	for k, v := range o.MaxBytesByKind {
		if v > 0 {
			limits[k] = v
		}
	}
	limits[fieldsync.KindPhoto] = o.MaxBytes
	o.MaxBytesByKind = limits
	if o.PartSize < MinPartSize {
		o.PartSize = MinPartSize
	}
	if o.UploadExpiry <= 0 {
		o.UploadExpiry = DefaultUploadExpiry
	}
	if o.DownloadExpiry <= 0 {
		o.DownloadExpiry = DefaultDownloadExpiry
	}
	if o.CleanupAge <= 0 {
		o.CleanupAge = DefaultCleanupAge
	}
	if o.CleanupInterval <= 0 {
		o.CleanupInterval = DefaultCleanupInterval
	}
	if o.ThumbnailSize <= 0 {
		o.ThumbnailSize = DefaultThumbnailSize
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	if o.MaxDecodes <= 0 {
		o.MaxDecodes = runtime.GOMAXPROCS(0)
	}
	if o.Instance == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		o.Instance = hex.EncodeToString(b)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Service is photo evidence: announce, upload (presigned or streamed), verify,
// read with short-lived URLs, list what is missing, and clean up.
type Service struct {
	store     Store
	objects   *ObjectStore
	citations fieldsync.CitationFinder
	opts      Options
	log       *slog.Logger

	bg          sync.WaitGroup
	decodes     chan struct{} // a slot per image being decoded (MaxDecodes)
	fullDecodes atomic.Int64

	healthMu    sync.Mutex
	healthUntil time.Time
	healthErr   error
}

// NewService returns the media service.
func NewService(store Store, objects *ObjectStore, citations fieldsync.CitationFinder, opts Options) *Service {
	opts = opts.withDefaults()
	return &Service{store: store, objects: objects, citations: citations, opts: opts, log: opts.Logger,
		decodes: make(chan struct{}, opts.MaxDecodes)}
}

// MaxBytes is the largest media object of any kind.
func (s *Service) MaxBytes() int64 {
	var n int64
	for _, v := range s.opts.MaxBytesByKind {
		n = max(n, v)
	}
	return n
}

// MaxBytesOf is the size limit of one media object of kind.
func (s *Service) MaxBytesOf(kind string) int64 {
	if kind == "" {
		kind = fieldsync.KindPhoto
	}
	return s.opts.MaxBytesByKind[kind]
}

// Wait blocks until background work started so far has finished (thumbnails
// are made while verifying, so there is none today; callers keep waiting).
func (s *Service) Wait() { s.bg.Wait() }

// CreateRequest announces a media object.
type CreateRequest struct {
	ID string
	// Kind is one of Kinds; empty means the kind of ContentType (a PNG is a
	// photo unless declared a signature).
	Kind        string
	ContentType string
	Size        int64
	SHA256      string
	Record      *fieldsync.RecordID
}

// Upload tells a phone how to send the bytes straight to the object store.
type Upload struct {
	Method    string
	URL       string
	Headers   map[string]string
	ExpiresAt time.Time
}

var (
	uuidRE   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	safeSeg  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
)

// ValidID reports whether id is a media id: a UUID.
func ValidID(id string) bool { return uuidRE.MatchString(id) }

// validate checks the request and returns its kind.
func (r *CreateRequest) validate(limits map[string]int64, colls []fieldsync.SyncedCollection) (string, error) {
	r.ContentType = canonicalType(r.ContentType)
	if r.Kind != "" && !slices.Contains(Kinds, r.Kind) {
		return "", fieldsync.FieldErrorf("kind", "must be one of photo, signature, video, audio, document")
	}
	kind := kindOf(r.ContentType, r.Kind)
	maxBytes := limits[kind]
	switch {
	case !ValidID(r.ID):
		return "", fieldsync.FieldErrorf("id", "must be a UUID")
	case !slices.Contains(ContentTypes, r.ContentType):
		return "", fieldsync.FieldErrorf("content_type", "must be one of image/jpeg, image/png, image/webp, image/heic, image/heif, video/mp4, video/quicktime, audio/mp4, audio/amr, audio/amr-wb, audio/ogg, application/pdf")
	case kind == "":
		return "", fieldsync.FieldErrorf("content_type", "a %s must be one of %s", r.Kind, strings.Join(kindTypes[r.Kind], ", "))
	case r.Size <= 0:
		return "", fieldsync.FieldErrorf("size", "must be positive")
	case r.Size > maxBytes:
		e := fieldsync.Errorf(fieldsync.EPayloadTooLarge, "size larger than %d bytes (the limit of a %s)", maxBytes, kind)
		e.Field = "size"
		return "", e
	case !sha256RE.MatchString(r.SHA256):
		return "", fieldsync.FieldErrorf("sha256", "must be 64 lower-case hex digits")
	}
	if r.Record != nil {
		if !slices.ContainsFunc(colls, func(c fieldsync.SyncedCollection) bool { return c.Evidence && c.Name == r.Record.Collection }) {
			return "", fieldsync.FieldErrorf("record.collection", "unknown collection")
		}
		if !ValidID(r.Record.ID) {
			return "", fieldsync.FieldErrorf("record.id", "must be a UUID")
		}
	}
	return kind, nil
}

func callerOf(ctx context.Context) (*fieldsync.Caller, error) {
	c := fieldsync.CallerFromContext(ctx)
	if c == nil {
		return nil, fieldsync.Errorf(fieldsync.EUnauthorized, "no caller")
	}
	return c, nil
}

// Create announces media and answers it with a presigned upload, or without
// one when it is already stored. The same id again by the same uploader with
// the same declaration is the same media; a different declaration is conflict.
func (s *Service) Create(ctx context.Context, req CreateRequest) (*fieldsync.Media, *Upload, error) {
	caller, err := callerOf(ctx)
	if err != nil {
		return nil, nil, err
	}
	kind, err := req.validate(s.opts.MaxBytesByKind, s.opts.Collections)
	if err != nil {
		return nil, nil, err
	}
	if err := s.objectsUp(ctx); err != nil {
		return nil, nil, err
	}
	m, err := s.store.GetMedia(ctx, caller.TenantID, req.ID)
	if fieldsync.ErrorCode(err) == fieldsync.ENotFound {
		m, err = s.insert(ctx, caller, req, kind)
	}
	if err != nil {
		return nil, nil, err
	}
	if m.UploaderID != caller.UserID || m.SHA256 != req.SHA256 || m.Size != req.Size || !sameType(m.ContentType, req.ContentType) || mediaKind(m) != kind {
		return nil, nil, fieldsync.Errorf(fieldsync.EConflict, "media id already used for other content")
	}
	if m.Status == fieldsync.MediaStored {
		return m, nil, nil
	}
	up, err := s.presignUpload(ctx, m)
	if err != nil {
		return nil, nil, err
	}
	return m, up, nil
}

func (s *Service) insert(ctx context.Context, caller *fieldsync.Caller, req CreateRequest, kind string) (*fieldsync.Media, error) {
	now := s.opts.Now().UTC()
	site, err := s.siteOf(ctx, caller, req.ID)
	if err != nil {
		return nil, err
	}
	m := &fieldsync.Media{
		ID: req.ID, TenantID: caller.TenantID, SiteID: site, UploaderID: caller.UserID,
		Status: fieldsync.MediaPending, Kind: kind, ContentType: req.ContentType, Size: req.Size, SHA256: req.SHA256,
		Record: req.Record, CreatedAt: now, UpdatedAt: now,
	}
	m.Key = objectKey(caller.TenantID, site, now, req.ID)
	m.UploadKey = incomingPrefix + m.Key
	err = s.store.InsertMedia(ctx, m)
	if fieldsync.ErrorCode(err) == fieldsync.EConflict { // a concurrent create won
		return s.store.GetMedia(ctx, caller.TenantID, req.ID)
	}
	return m, err
}

// siteOf files media under the site of a readable record already citing it,
// else the uploader's first site; the key only organises the bucket.
func (s *Service) siteOf(ctx context.Context, caller *fieldsync.Caller, id string) (string, error) {
	cites, err := s.citations.Citing(ctx, caller.TenantID, []string{id})
	if err != nil {
		return "", err
	}
	for _, c := range cites {
		if fieldsync.CanRead(caller, c.Record, s.opts.Now()) {
			return c.Record.SiteID, nil
		}
	}
	if len(caller.SiteIDs) > 0 {
		return caller.SiteIDs[0], nil
	}
	return "", nil
}

// objectKey builds tenant/site/yyyy/mm/id from server-held values only; a
// segment that is not plain is replaced by a digest of itself.
func objectKey(tenant, site string, at time.Time, id string) string {
	return keySegment(tenant) + "/" + keySegment(site) + "/" + at.UTC().Format("2006/01") + "/" + id
}

func keySegment(s string) string {
	if safeSeg.MatchString(s) && s != "." && s != ".." {
		return s
	}
	if s == "" {
		return "_"
	}
	return "x" + shortDigest(s)
}

func thumbKey(key string) string { return key + ".thumb.jpg" }

// Upload keys: clients upload under incoming/ and verification copies what it
// verified to the media's Key, which no client is ever given to write, so a
// late PUT to a still valid upload URL cannot change verified evidence.
// Media announced before had one key for both: its verified copy goes to
// verified/ + that key (the stored Key field always says where the bytes are).
// Each verification works on a copy of its own, under verifying/. A
// resumable upload assembles under multipart/, at a key only its one
// multipart upload can write, and is served from there once verified.
const (
	incomingPrefix  = "incoming/"
	verifiedPrefix  = "verified/"
	verifyingPrefix = "verifying/"
	multipartPrefix = "multipart/"
)

// attemptKey is a key of one verification attempt of the media kept at key:
// the server alone writes it, and no other attempt shares it.
func attemptKey(key string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return verifyingPrefix + key + "." + hex.EncodeToString(b)
}

// separateKeys gives pending media announced before uploads had a key of their
// own a final key distinct from the one its upload URL was signed for.
func separateKeys(m *fieldsync.Media) {
	if m.UploadKey == "" {
		m.UploadKey, m.Key = m.Key, verifiedPrefix+m.Key
	}
}

func (s *Service) presignUpload(ctx context.Context, m *fieldsync.Media) (*Upload, error) {
	h := http.Header{}
	h.Set("Content-Type", m.ContentType)
	h.Set("Content-Length", strconv.FormatInt(m.Size, 10))
	key := m.UploadKey
	if key == "" {
		key = m.Key // announced before uploads had a key of their own
	}
	u, err := s.objects.Public.PresignHeader(ctx, http.MethodPut, s.objects.Bucket, key, s.opts.UploadExpiry, nil, h)
	if err != nil {
		return nil, MapError(err)
	}
	return &Upload{
		Method: http.MethodPut, URL: u.String(),
		Headers:   map[string]string{"Content-Type": m.ContentType, "Content-Length": strconv.FormatInt(m.Size, 10)},
		ExpiresAt: s.opts.Now().Add(s.opts.UploadExpiry).UTC(),
	}, nil
}

// own returns media id of the caller's tenant if the caller uploaded it; not_found otherwise.
func (s *Service) own(ctx context.Context, id string) (*fieldsync.Media, error) {
	caller, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	if !ValidID(id) {
		return nil, fieldsync.FieldErrorf("id", "must be a UUID")
	}
	m, err := s.store.GetMedia(ctx, caller.TenantID, id)
	if err != nil {
		return nil, err
	}
	if m.UploaderID != caller.UserID {
		return nil, fieldsync.Errorf(fieldsync.ENotFound, "not found")
	}
	return m, nil
}

// uploadBuffer is the read buffer of one streamed upload.
const uploadBuffer = 256 << 10

// putOptions upload with a plain signed request: no trailing checksum (the
// embedded gateway refuses it) and no aws-chunked streaming signature (the
// gateway would store and serve Content-Encoding: aws-chunked). The server
// verifies the SHA-256 itself, so an unsigned payload loses nothing.
func putOptions(contentType string) minio.PutObjectOptions {
	return minio.PutObjectOptions{ContentType: contentType, DisableContentSha256: true, DisableMultipart: true}
}

// Upload streams a media object's bytes through the server to the object
// store and verifies them at once, as Complete does. contentLength is the
// request's declared length, or -1 when unknown; only the media's declared
// size is ever read. A stored media is answered unchanged.
func (s *Service) Upload(ctx context.Context, id string, body io.Reader, contentLength int64) (*fieldsync.Media, error) {
	m, err := s.own(ctx, id)
	if err != nil {
		return nil, err
	}
	if m.Status == fieldsync.MediaStored {
		return m, nil
	}
	if contentLength >= 0 && contentLength != m.Size {
		return nil, unprocessable("size", "body has %d bytes, declared %d", contentLength, m.Size)
	}
	// Streamed to a key of this attempt only, never to one a client holds a
	// URL for: the bytes hashed on the way are the bytes verified and kept.
	separateKeys(m)
	tmp := attemptKey(m.Key)
	defer s.removeObject(context.WithoutCancel(ctx), tmp) // also when the request ends early
	// A large read buffer: the HTTP server hands over the body in small
	// pieces; fewer, larger reads keep the relay near the store's own speed.
	body = bufio.NewReaderSize(body, uploadBuffer)
	obs := newObserver(io.LimitReader(body, m.Size), headSizeOf(m))
	_, err = s.objects.Client.PutObject(ctx, s.objects.Bucket, tmp, obs, m.Size, putOptions(m.ContentType))
	if err != nil {
		if obs.eof && obs.n < m.Size { // the client's body ended early, the store is fine
			return nil, unprocessable("size", "body ended after %d bytes, declared %d", obs.n, m.Size)
		}
		return nil, MapError(err)
	}
	got := obs.result()
	if extra, _ := body.Read(make([]byte, 1)); extra > 0 {
		got.size++ // longer than declared: verify reports it
	}
	return s.finish(ctx, m, tmp, got)
}

// Complete verifies an object uploaded with a presigned URL (the single PUT,
// or the parts of a resumable upload, assembled first): size, SHA-256
// and the real content type. Nothing uploaded is not_uploaded; a mismatch is
// unprocessable and the object is removed so the phone can upload again.
func (s *Service) Complete(ctx context.Context, id string) (*fieldsync.Media, error) {
	m, err := s.own(ctx, id)
	if err != nil {
		return nil, err
	}
	if m.Status == fieldsync.MediaStored {
		return m, nil
	}
	if m.Multipart != nil {
		return s.completeResumable(ctx, m)
	}
	return s.completeSingle(ctx, m)
}

// completeSingle verifies what was sent with the single presigned PUT.
func (s *Service) completeSingle(ctx context.Context, m *fieldsync.Media) (*fieldsync.Media, error) {
	separateKeys(m)
	info, err := s.objects.Client.StatObject(ctx, s.objects.Bucket, m.UploadKey, minio.StatObjectOptions{})
	if err != nil {
		return s.notUploaded(ctx, m, err)
	}
	if info.Size != m.Size || info.Size > s.MaxBytesOf(m.Kind) {
		return s.finish(ctx, m, "", observed{size: info.Size})
	}
	// Verify a server-side copy of this attempt's own, not the upload: a PUT
	// to the upload URL during or after verification changes nothing kept.
	tmp := attemptKey(m.Key)
	defer s.removeObject(context.WithoutCancel(ctx), tmp) // also when the request ends early
	_, err = s.objects.Client.CopyObject(ctx, minio.CopyDestOptions{Bucket: s.objects.Bucket, Object: tmp},
		minio.CopySrcOptions{Bucket: s.objects.Bucket, Object: m.UploadKey})
	if err != nil {
		return s.notUploaded(ctx, m, err)
	}
	got, err := s.read(ctx, m, tmp)
	if err != nil {
		return nil, MapError(err)
	}
	return s.finish(ctx, m, tmp, got)
}

// notUploaded answers a store error about m's upload: an upload that is not
// there is not_uploaded — unless a concurrent complete of the same media
// stored it (and removed the upload) meanwhile: then the stored media.
func (s *Service) notUploaded(ctx context.Context, m *fieldsync.Media, err error) (*fieldsync.Media, error) {
	if fieldsync.ErrorCode(MapError(err)) != fieldsync.ENotFound {
		return nil, MapError(err)
	}
	if cur, gerr := s.store.GetMedia(ctx, m.TenantID, m.ID); gerr == nil && cur.Status == fieldsync.MediaStored {
		return cur, nil
	}
	return nil, fieldsync.Errorf(fieldsync.ENotUploaded, "nothing uploaded for this media yet")
}

// finish verifies what was seen of the bytes of this attempt, kept at tmp,
// and that they really are an image of their type (inspect). On failure the
// upload is removed; on success the verified bytes are copied to m.Key —
// every attempt copying there was verified against the same SHA-256, so Key
// only ever holds the verified bytes — or, when tmp is the key a resumable
// upload assembled at (which nothing writes any more), served from tmp
// itself; the thumbnail made from the same bounded decode is stored, the
// media marked stored and the upload removed.
func (s *Service) finish(ctx context.Context, m *fieldsync.Media, tmp string, got observed) (*fieldsync.Media, error) {
	if err := verify(m, got, s.MaxBytesOf(m.Kind)); err != nil {
		s.refuse(ctx, m)
		return nil, err
	}
	x, _ := ParseEXIF(exifBlock(got.head))
	var thumb []byte
	var d decoded
	var err error
	if got.structureRead {
		err = s.refusal(m, got.structureErr)
	} else {
		d, err = s.inspect(ctx, m, tmp, func(img image.Image) (err error) {
			if thumb, err = thumbnailOf(img, s.opts.ThumbnailSize, x.Orientation); err != nil {
				s.log.InfoContext(ctx, "media: no thumbnail", "media_id", m.ID, "err", err)
			}
			return nil
		})
	}
	if err != nil {
		if fieldsync.ErrorCode(err) == fieldsync.EUnprocessable {
			s.refuse(ctx, m)
		}
		return nil, err
	}
	if mp := m.Multipart; mp != nil && tmp == mp.Key {
		m.Key = tmp // recorded only with the stored status: unverified bytes are never served
	} else if _, err = s.objects.Client.CopyObject(ctx, minio.CopyDestOptions{Bucket: s.objects.Bucket, Object: m.Key},
		minio.CopySrcOptions{Bucket: s.objects.Bucket, Object: tmp}); err != nil {
		return nil, MapError(err)
	}
	describe(m, got.head)
	m.Width, m.Height = d.width, d.height
	now := s.opts.Now().UTC()
	m.Status, m.StoredAt, m.UpdatedAt = fieldsync.MediaStored, &now, now
	m.Thumb = fieldsync.ThumbNone // HEIC, over the pixel cap, or not encodable
	if thumb != nil {
		if m.ThumbKey, err = s.putThumbnail(ctx, m, thumb); err != nil {
			s.log.WarnContext(ctx, "media: thumbnail", "media_id", m.ID, "err", err)
			m.ThumbKey, m.Thumb = "", fieldsync.ThumbPending // the sweep makes it later
		} else {
			m.Thumb = fieldsync.ThumbDone
		}
	}
	stored, err := s.store.MarkStored(ctx, m)
	if err != nil {
		return nil, err
	}
	if stored.UploadKey != "" && stored.UploadKey != stored.Key {
		s.removeObject(ctx, stored.UploadKey)
	}
	s.dropMultipart(ctx, stored)
	stored.Multipart = nil
	return stored, nil
}

// refuse removes what was uploaded for pending media m, so the phone can
// upload again; a failure is logged (the sweep removes it later). The key
// of the verified bytes is never touched: only verified bytes reach it.
func (s *Service) refuse(ctx context.Context, m *fieldsync.Media) {
	if m.UploadKey != "" {
		s.removeObject(ctx, m.UploadKey)
	}
	s.dropMultipart(ctx, m) // the next attempt starts a new resumable upload
}

// removeObject removes a refused upload; a failure is logged (the sweep removes the media later).
func isStoreDown(err error) bool {
	return err != nil && fieldsync.ErrorCode(MapError(err)) == fieldsync.EUnavailable
}

func (s *Service) removeObject(ctx context.Context, key string) {
	if err := s.deleteObject(ctx, key); err != nil {
		s.log.WarnContext(ctx, "media: remove object", "key", key, "err", err)
	}
}

// deleteObject removes key; an object already gone is no error.
func (s *Service) deleteObject(ctx context.Context, key string) error {
	err := MapError(s.objects.Client.RemoveObject(ctx, s.objects.Bucket, key, minio.RemoveObjectOptions{}))
	if fieldsync.ErrorCode(err) == fieldsync.ENotFound {
		return nil
	}
	return err
}

// View is media as a reader sees it, with short-lived download URLs.
type View struct {
	Media     fieldsync.Media
	Original  string
	Thumbnail string
	ExpiresAt time.Time
}

// Get answers media to its uploader and to callers who may read a record
// citing it; everyone else gets not_found. Media cited by a readable record
// but not announced yet is answered pending.
func (s *Service) Get(ctx context.Context, id string) (*View, error) {
	caller, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	if !ValidID(id) {
		return nil, fieldsync.Errorf(fieldsync.ENotFound, "not found")
	}
	if err := s.objectsUp(ctx); err != nil {
		return nil, err
	}
	m, err := s.store.GetMedia(ctx, caller.TenantID, id)
	if err != nil && fieldsync.ErrorCode(err) != fieldsync.ENotFound {
		return nil, err
	}
	if m == nil || m.UploaderID != caller.UserID {
		ok, err := s.citedForCaller(ctx, caller, id, m)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fieldsync.Errorf(fieldsync.ENotFound, "not found")
		}
	}
	if m == nil {
		return &View{Media: fieldsync.Media{ID: id, TenantID: caller.TenantID, Status: fieldsync.MediaPending}}, nil
	}
	v := &View{Media: *m}
	if m.Status != fieldsync.MediaStored {
		return v, nil
	}
	v.ExpiresAt = s.opts.Now().Add(s.opts.DownloadExpiry).UTC()
	if v.Original, err = s.presignGet(ctx, m.Key, m.ContentType, disposition("attachment", m.ID, extensions[m.ContentType])); err != nil {
		return nil, err
	}
	if m.Thumb == fieldsync.ThumbDone && m.ThumbKey != "" {
		if v.Thumbnail, err = s.presignGet(ctx, m.ThumbKey, TypeJPEG, disposition("inline", m.ID, ".thumb.jpg")); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// citedForCaller reports whether a record citing media id lets caller read
// it (CitationGrants). Media not announced yet (m nil) has no site: any
// record caller may read that cites it shows it pending, without content.
func (s *Service) citedForCaller(ctx context.Context, caller *fieldsync.Caller, id string, m *fieldsync.Media) (bool, error) {
	cites, err := s.citations.Citing(ctx, caller.TenantID, []string{id})
	if err != nil {
		return false, err
	}
	now := s.opts.Now()
	for _, c := range cites {
		if m == nil && c.MediaID == id && fieldsync.CanRead(caller, c.Record, now) || fieldsync.CitationGrants(caller, m, c, now) {
			return true, nil
		}
	}
	return false, nil
}

// CiteRules implements fieldsync.CiteChecker: one query for the media, and
// one for the records citing those the caller did not upload.
func (s *Service) CiteRules(ctx context.Context, caller *fieldsync.Caller, mediaIDs []string) (map[string]fieldsync.CiteRule, error) {
	if caller == nil {
		return nil, fieldsync.Errorf(fieldsync.EUnauthorized, "no caller")
	}
	ids := slices.Compact(slices.Sorted(slices.Values(mediaIDs)))
	if len(ids) == 0 {
		return nil, nil
	}
	found, err := s.findMedia(ctx, caller.TenantID, ids)
	if err != nil {
		return nil, err
	}
	rules := make(map[string]fieldsync.CiteRule, len(found))
	byID := make(map[string]*fieldsync.Media, len(found))
	var others []string
	for i := range found {
		m := &found[i]
		rules[m.ID] = fieldsync.CiteRule{Uploaded: m.UploaderID == caller.UserID, SiteID: m.SiteID}
		if m.UploaderID != caller.UserID {
			byID[m.ID] = m
			others = append(others, m.ID)
		}
	}
	if len(others) == 0 {
		return rules, nil
	}
	cites, err := s.citations.Citing(ctx, caller.TenantID, others)
	if err != nil {
		return nil, err
	}
	now := s.opts.Now()
	for _, c := range cites {
		if m := byID[c.MediaID]; m != nil && fieldsync.CitationGrants(caller, m, c, now) {
			r := rules[m.ID]
			r.Readable = true
			rules[m.ID] = r
		}
	}
	return rules, nil
}

var _ fieldsync.CiteChecker = (*Service)(nil)

// maxPointLookups is the most media findMedia looks up one by one.
const maxPointLookups = 8

// findMedia returns those of ids tenant has. A few (a push's photos) are
// looked up by key one at a time, in parallel: the embedded FerretDB answers
// a lone key look-up from its index but decodes the whole collection for $in.
func (s *Service) findMedia(ctx context.Context, tenant string, ids []string) ([]fieldsync.Media, error) {
	if len(ids) > maxPointLookups {
		return s.store.FindMedia(ctx, tenant, ids)
	}
	found := make([]*fieldsync.Media, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			found[i], errs[i] = s.store.GetMedia(ctx, tenant, id)
			if fieldsync.ErrorCode(errs[i]) == fieldsync.ENotFound {
				errs[i] = nil
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := make([]fieldsync.Media, 0, len(ids))
	for _, m := range found {
		if m != nil {
			out = append(out, *m)
		}
	}
	return out, nil
}

// presignGet signs a download that the store answers with the verified
// content type, as an attachment named after the media (a UUID and the
// type's extension: nothing a client chose), whatever metadata the object carries.
func (s *Service) presignGet(ctx context.Context, key, contentType, disposition string) (string, error) {
	q := url.Values{}
	q.Set("response-content-type", contentType)
	q.Set("response-content-disposition", disposition)
	q.Set("response-cache-control", "private, max-age=300")
	u, err := s.objects.Public.Presign(ctx, http.MethodGet, s.objects.Bucket, key, s.opts.DownloadExpiry, q)
	if err != nil {
		return "", MapError(err)
	}
	return u.String(), nil
}

// disposition is the Content-Disposition of a download of media id: kind
// "attachment" or "inline", the file named id plus suffix (ids are UUIDs).
func disposition(kind, id, suffix string) string {
	if !ValidID(id) {
		id = "media"
	}
	return kind + `; filename="` + id + suffix + `"`
}

// extensions of the accepted content types, for download file names.
var extensions = map[string]string{TypeJPEG: ".jpg", TypePNG: ".png", TypeWebP: ".webp", TypeHEIC: ".heic", TypeHEIF: ".heif",
	TypeMP4: ".mp4", TypeMOV: ".mov", TypeM4A: ".m4a", TypeAMR: ".amr", TypeAMRW: ".awb", TypeOgg: ".opus", TypePDF: ".pdf"}

// Missing is evidence a record cites that is not stored yet.
type Missing struct {
	MediaID string
	// Announced tells whether the phone has announced the upload (POST /v1/media).
	Announced bool
	Record    fieldsync.RecordRef
}

// ListMissing lists the media cited by the records of site the caller may
// read that are not stored yet, with the citing record. Callers not assigned
// to the site are forbidden.
func (s *Service) ListMissing(ctx context.Context, site string) ([]Missing, error) {
	caller, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	if site == "" {
		return nil, fieldsync.FieldErrorf("site_id", "required")
	}
	if !caller.HasSite(site) {
		return nil, fieldsync.Errorf(fieldsync.EForbidden, "not assigned to this site")
	}
	cites, err := s.citations.CitedAtSite(ctx, caller.TenantID, site)
	if err != nil {
		return nil, err
	}
	now := s.opts.Now()
	var ids []string
	readable := cites[:0:0]
	for _, c := range cites {
		if c.Record.SiteID == site && fieldsync.CanRead(caller, c.Record, now) {
			readable = append(readable, c)
			ids = append(ids, c.MediaID)
		}
	}
	if len(readable) == 0 {
		return []Missing{}, nil
	}
	slices.Sort(ids)
	found, err := s.store.FindMedia(ctx, caller.TenantID, slices.Compact(ids))
	if err != nil {
		return nil, err
	}
	byID := map[string]*fieldsync.Media{}
	for i := range found {
		byID[found[i].ID] = &found[i]
	}
	out := []Missing{}
	for _, c := range readable {
		m := byID[c.MediaID]
		if m != nil && !fieldsync.CitationGrants(caller, m, c, now) {
			continue // another site's media: citing it shows nothing of it
		}
		if m == nil || m.Status != fieldsync.MediaStored {
			announced := m != nil
			out = append(out, Missing{MediaID: c.MediaID, Announced: announced, Record: c.Record})
		}
	}
	slices.SortFunc(out, func(a, b Missing) int {
		if a.MediaID != b.MediaID {
			return cmp.Compare(a.MediaID, b.MediaID)
		}
		return cmp.Compare(a.Record.Collection+"/"+a.Record.ID, b.Record.Collection+"/"+b.Record.ID)
	})
	return out, nil
}

func shortDigest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

// objectsUp answers unavailable while the object store is down, asking it at
// most every two seconds, so media requests fail fast with Retry-After.
func (s *Service) objectsUp(ctx context.Context) error {
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	now := time.Now()
	if now.Before(s.healthUntil) {
		return s.healthErr
	}
	err := s.objects.Ping(ctx)
	if err != nil && !errors.Is(ctx.Err(), context.Canceled) {
		var fe *fieldsync.Error
		if !errors.As(err, &fe) || fe.Code != fieldsync.EUnavailable {
			err = &fieldsync.Error{Code: fieldsync.EUnavailable, Message: "object store unavailable", RetryAfter: 10, Err: err}
		}
	}
	s.healthErr, s.healthUntil = err, now.Add(2*time.Second)
	return err
}
