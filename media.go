package fieldsync

import "time"

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
	ThumbNone    = "none" // not possible (HEIC, undecodable, too many pixels)
)

// Media is one photo (or signature) kept as evidence. The bytes live in the
// object store under Key; this is its metadata.
type Media struct {
	ID          string     `bson:"media_id"`
	TenantID    string     `bson:"tenant"`
	SiteID      string     `bson:"site_id"`
	UploaderID  string     `bson:"uploader_id"`
	Status      string     `bson:"status"`
	ContentType string     `bson:"content_type"`
	Size        int64      `bson:"size"`
	SHA256      string     `bson:"sha256"`
	Key         string     `bson:"key"`
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
