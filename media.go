package fieldsync

import (
	"context"
	"time"
)

// Media statuses.
const (
	// MediaPending: announced (or only cited by a record), bytes not yet verified.
	MediaPending = "pending"
	// MediaStored: the bytes were verified (size, SHA-256, real type) and are kept as evidence.
	MediaStored = "stored"
)

// Thumbnail states of stored media.
const (
	ThumbPending = "pending" // to be made
	ThumbDone    = "done"
	ThumbNone    = "none" // not possible (HEIC, undecodable, too many pixels, video, audio, PDF)
)

// Kinds of evidence: each has its content types and its own size limit.
const (
	KindPhoto     = "photo"     // JPEG, PNG, WebP, HEIC/HEIF
	KindSignature = "signature" // PNG, declared kind "signature"
	KindVideo     = "video"     // MP4 (H.264), QuickTime MOV
	KindAudio     = "audio"     // M4A (AAC), AMR, Ogg Opus
	KindDocument  = "document"  // PDF
)

// Multipart is a resumable upload of a media object: an S3 multipart upload
// whose parts the phone sends to presigned URLs, each signed for its length
// and checksum. Key is the upload's own target, which only this multipart
// upload can write, and nothing once it is assembled: completion verifies
// what was assembled there, and the media's Key becomes this Key when it is
// marked stored.
type Multipart struct {
	UploadID  string    `bson:"upload_id"`
	Key       string    `bson:"key"`
	PartSize  int64     `bson:"part_size"`
	StartedAt time.Time `bson:"started_at"`
}

// Media is one piece of evidence (a photo, signature, video, voice note or
// PDF). The bytes live in the
// object store under Key; this is its metadata. The client uploads to
// UploadKey, and verification copies what it verified to Key, a key no client
// is ever given to write (UploadKey is empty for media announced before
// uploads had a key of their own: they were uploaded to Key); a resumable
// upload is served from the key it was assembled at (Multipart).
type Media struct {
	ID          string     `bson:"media_id"`
	TenantID    string     `bson:"tenant"`
	SiteID      string     `bson:"site_id"`
	UploaderID  string     `bson:"uploader_id"`
	Status      string     `bson:"status"`
	Kind        string     `bson:"kind,omitempty"` // empty: a photo announced before kinds
	ContentType string     `bson:"content_type"`
	Size        int64      `bson:"size"`
	SHA256      string     `bson:"sha256"`
	Key         string     `bson:"key"`
	UploadKey   string     `bson:"upload_key,omitempty"`
	Multipart   *Multipart `bson:"multipart,omitempty"`
	ThumbKey    string     `bson:"thumb_key,omitempty"`
	Thumb       string     `bson:"thumb,omitempty"`
	Record      *RecordID  `bson:"record,omitempty"`
	Width       int        `bson:"width,omitempty"`
	Height      int        `bson:"height,omitempty"`
	TakenAt     *time.Time `bson:"taken_at,omitempty"`
	GPS         *GeoPoint  `bson:"gps,omitempty"`
	CreatedAt   time.Time  `bson:"created_at"`
	UpdatedAt   time.Time  `bson:"updated_at"`
	StoredAt    *time.Time `bson:"stored_at,omitempty"`
}

// RecordID names a record by collection and id.
type RecordID struct {
	Collection string `bson:"collection" json:"collection"`
	ID         string `bson:"id" json:"id"`
}

// GeoPoint is a WGS 84 position in decimal degrees.
type GeoPoint struct {
	Lat float64 `bson:"lat" json:"lat"`
	Lon float64 `bson:"lon" json:"lon"`
}

// CitationGrants reports whether citation c lets caller read media m (of
// caller's tenant): caller may read the citing record, and the record is of
// the media's site or was made by its uploader. A record anyone made at
// another site grants nothing, so citing a photo's id is no way to read it.
// The uploader reads their media without any citation.
func CitationGrants(caller *Caller, m *Media, c Citation, now time.Time) bool {
	if caller == nil || m == nil || c.MediaID != m.ID || c.Record.TenantID != m.TenantID {
		return false
	}
	if c.Record.SiteID != m.SiteID && c.Record.CreatedBy != m.UploaderID {
		return false
	}
	return CanRead(caller, c.Record, now)
}

// CiteRule says from which records a caller may newly cite one media object
// that exists (announced or stored).
type CiteRule struct {
	// Uploaded: the caller uploaded it, and may cite it from any record they may write.
	Uploaded bool
	// Readable: a record citing it lets the caller read it (CitationGrants).
	Readable bool
	// SiteID is the site the media is filed under.
	SiteID string
}

// Allows reports whether the caller may cite the media from a record of site:
// their own upload from anywhere, media they may read only from its own site.
func (r CiteRule) Allows(site string) bool { return r.Uploaded || (r.Readable && r.SiteID == site) }

// CiteChecker decides who may cite which media from a record's media fields
// (photo ids, a signature). The media service implements it; the sync engine
// asks it once per push, before applying the batch.
type CiteChecker interface {
	// CiteRules returns the rule of each of mediaIDs that exists in caller's
	// tenant. An id it leaves out is not announced yet: any record may cite it,
	// and when it arrives its site and uploader decide who reads it.
	// Errors: unauthorized (no caller), unavailable, internal.
	CiteRules(ctx context.Context, caller *Caller, mediaIDs []string) (map[string]CiteRule, error)
}

// CiteCheckerFunc adapts a function to CiteChecker. Wiring uses it to break the
// cycle between the sync engine (which asks who may cite) and the media
// service (which asks the engine who cites).
type CiteCheckerFunc func(ctx context.Context, caller *Caller, mediaIDs []string) (map[string]CiteRule, error)

// CiteRules calls f.
func (f CiteCheckerFunc) CiteRules(ctx context.Context, caller *Caller, mediaIDs []string) (map[string]CiteRule, error) {
	return f(ctx, caller, mediaIDs)
}
