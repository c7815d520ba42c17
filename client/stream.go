package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxStreamLine bounds one NDJSON line of the bootstrap stream (a record is far smaller).
const maxStreamLine = 8 << 20

// streamLine is one line of the bootstrap stream: a change, or the closing
// line that carries the cursor to pull from afterwards (and, should the
// server fail mid-stream, an error).
type streamLine struct {
	Change
	Type       string    `json:"type"`
	Cursor     string    `json:"cursor"`
	HasMore    *bool     `json:"has_more"`
	ServerTime time.Time `json:"server_time"`
	Error      *Problem  `json:"error"`
	Code       string    `json:"code"`
}

// ErrTruncated is returned by Bootstrap when the stream ends without its closing line.
var ErrTruncated = errors.New("client: bootstrap stream ended without its closing line")

// Bootstrap streams the caller's whole scope from GET /v1/sync/bootstrap
// (NDJSON, one change a line, then a closing line with the cursor for
// incremental pulls), handing each change to fn, and returns that cursor.
// Only the opening of the stream is retried: a stream cut half-way returns an
// error and the caller starts over.
func (c *Client) Bootstrap(ctx context.Context, fn func(Change) error) (string, error) {
	var cursor string
	err := c.openStream(ctx, "bootstrap", "/v1/sync/bootstrap", nil, "application/x-ndjson", func(resp *http.Response) error {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), maxStreamLine)
		closed := false
		for sc.Scan() {
			b := bytes.TrimSpace(sc.Bytes())
			if len(b) == 0 {
				continue
			}
			var l streamLine
			if err := json.Unmarshal(b, &l); err != nil {
				return fmt.Errorf("client: bootstrap: bad line: %w", err)
			}
			switch {
			case l.Error != nil:
				return l.Error
			case l.Collection == "" && l.Code != "":
				return &Problem{Status: resp.StatusCode, Code: l.Code}
			case l.Collection != "":
				if err := fn(l.Change); err != nil {
					return err
				}
			case l.Cursor != "":
				cursor, closed = l.Cursor, true
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("client: bootstrap: %w", err)
		}
		if !closed {
			return ErrTruncated
		}
		return nil
	})
	return cursor, err
}

// Event is one Server-Sent Event of GET /v1/sync/events.
type Event struct {
	Name string
	ID   string
	Data string
}

// Events listens to GET /v1/sync/events and hands every event to fn until ctx
// ends, fn fails or the server closes the stream.
func (c *Client) Events(ctx context.Context, fn func(Event) error) error {
	return c.openStream(ctx, "events", "/v1/sync/events", nil, "text/event-stream", func(resp *http.Response) error {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 4<<10), 1<<20)
		var ev Event
		var data []string
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				if ev.Name != "" || len(data) > 0 {
					ev.Data = strings.Join(data, "\n")
					if ev.Name == "" {
						ev.Name = "message"
					}
					if err := fn(ev); err != nil {
						return err
					}
				}
				ev, data = Event{}, nil
				continue
			}
			if strings.HasPrefix(line, ":") {
				continue
			}
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimPrefix(v, " ")
			switch k {
			case "event":
				ev.Name = v
			case "id":
				ev.ID = v
			case "data":
				data = append(data, v)
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return sc.Err()
	})
}

// openStream opens a long GET answer with the usual retries and token refresh,
// then hands the open answer to read.
func (c *Client) openStream(ctx context.Context, op, path string, q url.Values, accept string, read func(*http.Response) error) error {
	var resp *http.Response
	err := c.retry(ctx, op, func() (*http.Request, error) {
		req, err := c.newRequest(ctx, http.MethodGet, path, q, "", nil)
		if err == nil {
			req.Header.Set("Accept", accept)
		}
		return req, err
	}, true, &streamTaker{&resp})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return read(resp)
}

// streamTaker is an out value for retry that keeps the open answer instead of decoding it.
type streamTaker struct{ resp **http.Response }
