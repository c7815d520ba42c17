package fieldsync

import (
	"context"
	"encoding/json"
	"io"
	"time"
)

// Mutation operations a phone may push.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpAction = "action"
	OpDelete = "delete"
)

// Mutation result statuses.
const (
	StatusApplied   = "applied"
	StatusDuplicate = "duplicate"
	StatusConflict  = "conflict"
	StatusRejected  = "rejected"
)

// Change operations a pull hands out.
const (
	ChangeUpsert = "upsert"
	ChangeDelete = "delete"
)

// Mutation is one change a device made offline. Fields and Args stay raw JSON
// until the sync engine validates them against the collection's declaration.
type Mutation struct {
	MutationID  string                     `json:"mutation_id"`
	Collection  string                     `json:"collection"`
	Op          string                     `json:"op"`
	ID          string                     `json:"id"`
	BaseVersion int64                      `json:"base_version,omitempty"`
	Fields      map[string]json.RawMessage `json:"fields,omitempty"`
	Action      string                     `json:"action,omitempty"`
	Args        map[string]json.RawMessage `json:"args,omitempty"`
	// ClientTime is when the phone made the change by its own clock; it is kept
	// as given (client_created_at / client_updated_at), never trusted for ordering.
	ClientTime string `json:"client_time,omitempty"`
}

// PushRequest is a batch of one device's mutations, in the order it made them.
type PushRequest struct {
	DeviceID      string     `json:"device_id"`
	SchemaVersion int        `json:"schema_version,omitempty"`
	Mutations     []Mutation `json:"mutations"`
}

// Problem is an error about one mutation.
type Problem struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
	Field  string `json:"field,omitempty"`
}

// MutationResult is the outcome of one mutation.
type MutationResult struct {
	MutationID string         `json:"mutation_id"`
	Status     string         `json:"status"`
	ID         string         `json:"id"`
	Version    int64          `json:"version,omitempty"`
	Doc        map[string]any `json:"doc,omitempty"`
	Error      *Problem       `json:"error,omitempty"`
}

// PushResult answers a push, one result per mutation, in order.
type PushResult struct {
	Results []MutationResult `json:"results"`
}

// Change is one record's latest state as a pull hands it out.
type Change struct {
	Collection string         `json:"collection"`
	ID         string         `json:"id"`
	Version    int64          `json:"version"`
	Op         string         `json:"op"`
	Doc        map[string]any `json:"doc,omitempty"`
}

// PullRequest asks for the changes after Cursor (empty: bootstrap).
type PullRequest struct {
	Cursor        string
	Limit         int
	SchemaVersion int
}

// PullResult is one page of changes.
type PullResult struct {
	Changes []Change `json:"changes"`
	Cursor  string   `json:"cursor"`
	HasMore bool     `json:"has_more"`
	// HeldBack (with HasMore) says the page stops below a write still in
	// flight, or one whose writer died, while a later write is already
	// acknowledged: pull again shortly (or on the next sync event).
	HeldBack   bool      `json:"held_back,omitempty"`
	ServerTime time.Time `json:"server_time"`
}

// SyncConfig is what GET /v1/sync/config publishes.
type SyncConfig struct {
	MaxMutations    int      `json:"max_mutations"`
	MaxPushBytes    int      `json:"max_push_bytes"`
	MaxStringLength int      `json:"max_string_length"`
	DefaultLimit    int      `json:"default_pull_limit"`
	MaxLimit        int      `json:"max_pull_limit"`
	RetentionHours  float64  `json:"retention_hours"`
	Retention       string   `json:"retention"`
	SchemaVersions  []int    `json:"schema_versions"`
	CurrentSchema   int      `json:"current_schema_version"`
	Collections     []string `json:"collections"`

	// MaxClientSkew and MaxClientAge bound the times a phone sends: seconds
	// ahead of, and behind, the server's clock.
	MaxClientSkew int `json:"max_client_skew_seconds"`
	MaxClientAge  int `json:"max_client_age_seconds"`
}

// SyncService is the sync engine as the HTTP edge sees it. Every method reads
// the caller from ctx (unauthorized without one).
type SyncService interface {
	// Push applies a batch: forbidden when DeviceID is not the caller's device,
	// upgrade_required for an unsupported schema version, payload_too_large
	// beyond the mutation limit; everything else is answered per mutation.
	Push(ctx context.Context, req PushRequest) (PushResult, error)
	// Pull returns the next page: invalid_input for a bad cursor, cursor_expired
	// for one older than the retention.
	Pull(ctx context.Context, req PullRequest) (PullResult, error)
	// Bootstrap streams the caller's whole scope as newline-delimited JSON
	// changes to w, then a final line {"cursor", "server_time"}.
	Bootstrap(ctx context.Context, schemaVersion int, w io.Writer) error
	// Watch calls notify(false) whenever the caller's scope may have new
	// changes and notify(true) once when the watch ends (ctx ended, or a newer
	// watch of the same session took its place at the per-user cap). notify
	// must return at once; its calls are never concurrent and none follows
	// notify(true). rate_limited beyond the per-user connection cap.
	Watch(ctx context.Context, notify func(ended bool)) error
	// Config returns the published limits.
	Config() SyncConfig
}
