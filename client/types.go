package client

import (
	"encoding/json"
	"fmt"
	"time"
)

// Credentials log a device in (POST /v1/auth/login).
type Credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
	DeviceID string `json:"device_id"`
	// Tenant may be empty when the server has a default tenant.
	Tenant string `json:"tenant,omitempty"`
}

// User is the logged-in user as the server describes it.
type User struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Role    string   `json:"role"`
	SiteIDs []string `json:"site_ids"`
	// Department is a technician's (engineering, environment), if any.
	Department string `json:"department,omitempty"`
}

// Session is the answer to login and refresh.
type Session struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	User         User   `json:"user"`
}

// Mutation operations.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpAction = "action"
	OpDelete = "delete"
)

// Mutation is one change a device pushes.
type Mutation struct {
	MutationID  string         `json:"mutation_id"`
	Collection  string         `json:"collection"`
	Op          string         `json:"op"`
	ID          string         `json:"id"`
	BaseVersion int64          `json:"base_version,omitempty"`
	Fields      map[string]any `json:"fields,omitempty"`
	Action      string         `json:"action,omitempty"`
	Args        map[string]any `json:"args,omitempty"`
}

// Result statuses of a pushed mutation.
const (
	StatusApplied   = "applied"
	StatusDuplicate = "duplicate"
	StatusConflict  = "conflict"
	StatusRejected  = "rejected"
)

// Result is the server's answer for one mutation, in the order sent.
type Result struct {
	MutationID string          `json:"mutation_id"`
	Status     string          `json:"status"`
	ID         string          `json:"id"`
	Version    int64           `json:"version"`
	Doc        json.RawMessage `json:"doc,omitempty"`
	Error      *Problem        `json:"error,omitempty"`
}

// Change operations in a pull.
const (
	ChangeUpsert = "upsert"
	ChangeDelete = "delete"
)

// Change is one record's latest state in a pull page or the bootstrap stream.
// Doc is kept raw so a client that only counts or stores records pays no decoding.
type Change struct {
	Collection string          `json:"collection"`
	ID         string          `json:"id"`
	Version    int64           `json:"version"`
	Op         string          `json:"op"`
	Doc        json.RawMessage `json:"doc,omitempty"`
}

// Page is one answer of GET /v1/sync/pull.
type Page struct {
	Changes []Change `json:"changes"`
	Cursor  string   `json:"cursor"`
	HasMore bool     `json:"has_more"`
	// HeldBack (with HasMore): the page stops below a write still in flight
	// (or whose writer died) while a later one is acknowledged; pull again shortly.
	HeldBack   bool      `json:"held_back,omitempty"`
	ServerTime time.Time `json:"server_time"`
}

// Media is a piece of evidence (photo, signature, video, voice note, PDF) as the server describes it.
type Media struct {
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Kind        string            `json:"kind,omitempty"`
	ContentType string            `json:"content_type,omitempty"`
	Size        int64             `json:"size,omitempty"`
	SHA256      string            `json:"sha256,omitempty"`
	Upload      *Upload           `json:"upload,omitempty"`
	URLs        map[string]string `json:"urls,omitempty"`
}

// Upload tells where to PUT the bytes of a pending media.
type Upload struct {
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// RecordLink names the record a media belongs to.
type RecordLink struct {
	Collection string `json:"collection"`
	ID         string `json:"id"`
}

// NewMedia announces a media before its bytes (POST /v1/media).
type NewMedia struct {
	ID string `json:"id"`
	// Kind is photo, signature, video, audio or document; empty: from ContentType.
	Kind        string      `json:"kind,omitempty"`
	ContentType string      `json:"content_type"`
	Size        int64       `json:"size"`
	SHA256      string      `json:"sha256"`
	Record      *RecordLink `json:"record,omitempty"`
}

// Problem is an RFC 9457 problem document: the body of every error answer,
// and the error of a rejected or conflicting mutation.
type Problem struct {
	Type   string `json:"type,omitempty"`
	Title  string `json:"title,omitempty"`
	Status int    `json:"status,omitempty"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
	Field  string `json:"field,omitempty"`
	// RetryAfter is the Retry-After header of the answer, when there was one.
	RetryAfter time.Duration `json:"-"`
}

// Error implements error.
func (p *Problem) Error() string {
	s := fmt.Sprintf("client: %d %s", p.Status, p.Code)
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	if p.Field != "" {
		s += " (" + p.Field + ")"
	}
	return s
}

// Temporary reports whether the request may be retried as is (5xx and 429).
func (p *Problem) Temporary() bool { return p.Status >= 500 || p.Status == 429 }
