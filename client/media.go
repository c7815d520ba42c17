package client

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// CreateMedia announces a media (POST /v1/media). The same id again returns
// the same media; a media already stored comes back with status "stored" and no upload.
func (c *Client) CreateMedia(ctx context.Context, m NewMedia) (*Media, error) {
	var out Media
	err := c.retry(ctx, "media", func() (*http.Request, error) {
		return c.newJSONRequest(ctx, http.MethodPost, "/v1/media", nil, m)
	}, true, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// UploadMedia streams the bytes through the API (PUT /v1/media/{id}/content),
// for phones that cannot reach the object store. open is called once per
// attempt so a retried upload starts from the first byte.
func (c *Client) UploadMedia(ctx context.Context, id, contentType string, size int64, open func() (io.Reader, error)) (*Media, error) {
	var out Media
	err := c.retry(ctx, "media", func() (*http.Request, error) {
		body, err := open()
		if err != nil {
			return nil, err
		}
		req, err := c.newRequest(ctx, http.MethodPut, "/v1/media/"+url.PathEscape(id)+"/content", nil, contentType, body)
		if err != nil {
			return nil, err
		}
		req.ContentLength = size
		req.Header.Set("Content-Length", strconv.FormatInt(size, 10))
		return req, nil
	}, true, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// PutPresigned uploads the bytes to the presigned URL of a pending media.
func (c *Client) PutPresigned(ctx context.Context, up *Upload, size int64, body io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, up.Method, up.URL, body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return readProblem(resp)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// CompleteMedia asks the server to verify an uploaded media (POST /v1/media/{id}/complete).
func (c *Client) CompleteMedia(ctx context.Context, id string) (*Media, error) {
	var out Media
	err := c.retry(ctx, "media", func() (*http.Request, error) {
		return c.newRequest(ctx, http.MethodPost, "/v1/media/"+url.PathEscape(id)+"/complete", nil, "", nil)
	}, true, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// GetMedia reads a media's state and download URLs (GET /v1/media/{id}).
func (c *Client) GetMedia(ctx context.Context, id string) (*Media, error) {
	var out Media
	err := c.retry(ctx, "media", func() (*http.Request, error) {
		return c.newRequest(ctx, http.MethodGet, "/v1/media/"+url.PathEscape(id), nil, "", nil)
	}, true, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Resumable is the state of a resumable upload (POST /v1/media/{id}/multipart).
type Resumable struct {
	ID        string         `json:"id"`
	Status    string         `json:"status"`
	UploadID  string         `json:"upload_id,omitempty"`
	PartSize  int64          `json:"part_size,omitempty"`
	PartCount int            `json:"part_count,omitempty"`
	Parts     []UploadedPart `json:"parts"`
	Assembled bool           `json:"assembled,omitempty"`
}

// UploadedPart is a part the object store holds.
type UploadedPart struct {
	Number int    `json:"number"`
	Size   int64  `json:"size"`
	ETag   string `json:"etag,omitempty"`
}

// PartChecksum asks for the URL of one part: its number and a checksum of
// its bytes the object store checks them against — the base64 CRC32C
// (Castagnoli), cheaper for the store, or the base64 MD5.
type PartChecksum struct {
	Number int    `json:"number"`
	CRC32C string `json:"crc32c,omitempty"`
	MD5    string `json:"md5,omitempty"`
}

// PartURL is where to PUT one part: exactly Size bytes with Headers.
type PartURL struct {
	Number  int               `json:"number"`
	Size    int64             `json:"size"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

// StartResumable starts media id's resumable upload, or answers the one
// under way with the parts the store holds (POST /v1/media/{id}/multipart).
func (c *Client) StartResumable(ctx context.Context, id string) (*Resumable, error) {
	var out Resumable
	err := c.retry(ctx, "media", func() (*http.Request, error) {
		return c.newRequest(ctx, http.MethodPost, "/v1/media/"+url.PathEscape(id)+"/multipart", nil, "", nil)
	}, true, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// PartURLs asks for presigned URLs of parts (POST /v1/media/{id}/multipart/parts), at most 100.
func (c *Client) PartURLs(ctx context.Context, id string, parts []PartChecksum) ([]PartURL, error) {
	var out struct {
		Parts []PartURL `json:"parts"`
	}
	err := c.retry(ctx, "media", func() (*http.Request, error) {
		return c.newJSONRequest(ctx, http.MethodPost, "/v1/media/"+url.PathEscape(id)+"/multipart/parts", nil, map[string]any{"parts": parts})
	}, true, &out)
	if err != nil {
		return nil, err
	}
	return out.Parts, nil
}

// maxPartURLs is the most part URLs one request asks for.
const maxPartURLs = 100

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// UploadResumable sends the bytes of announced media id through the
// resumable path: it asks the server which parts the object store holds
// (after a dropped connection or an app restart, only the others are sent),
// sends each missing part to its presigned URL — retried on its own, and
// sent again when the store refuses it as corrupted (its CRC32C) —
// and completes. src is read at offsets, so a restarted app resumes from the
// file; nothing but one part at a time is held. Media already stored is
// answered at once.
func (c *Client) UploadResumable(ctx context.Context, id string, src io.ReaderAt, size int64) (*Media, error) {
	for round := 0; ; round++ {
		r, err := c.StartResumable(ctx, id)
		if err != nil {
			return nil, err
		}
		if r.Status == "stored" {
			return c.GetMedia(ctx, id)
		}
		if !r.Assembled {
			if err := c.sendMissingParts(ctx, id, r, src, size); err != nil {
				return nil, err
			}
		}
		m, err := c.CompleteMedia(ctx, id)
		var p *Problem
		if errors.As(err, &p) && p.Status == http.StatusConflict && p.Field == "parts" && round < 2 {
			continue // a part went missing meanwhile (the upload was aborted and restarted): send again
		}
		return m, err
	}
}

func (c *Client) sendMissingParts(ctx context.Context, id string, r *Resumable, src io.ReaderAt, size int64) error {
	have := map[int]bool{}
	for _, p := range r.Parts {
		have[p.Number] = true
	}
	var need []PartChecksum
	for n := 1; n <= r.PartCount; n++ {
		if have[n] {
			continue
		}
		lo := int64(n-1) * r.PartSize
		h := crc32.New(castagnoli)
		if _, err := io.Copy(h, io.NewSectionReader(src, lo, min(r.PartSize, size-lo))); err != nil {
			return err
		}
		need = append(need, PartChecksum{Number: n, CRC32C: base64.StdEncoding.EncodeToString(h.Sum(nil))})
	}
	for len(need) > 0 {
		batch := need[:min(len(need), maxPartURLs)]
		need = need[len(batch):]
		urls, err := c.PartURLs(ctx, id, batch)
		if err != nil {
			return err
		}
		for _, u := range urls {
			lo := int64(u.Number-1) * r.PartSize
			if err := c.putPart(ctx, u, io.NewSectionReader(src, lo, u.Size)); err != nil {
				return fmt.Errorf("client: part %d: %w", u.Number, err)
			}
		}
	}
	return nil
}

// putPart sends one part, retrying transport errors, 5xx and a part the
// store refused as corrupted (400 BadDigest) with backoff; the bytes are
// read again from the start each time.
func (c *Client) putPart(ctx context.Context, u PartURL, part *io.SectionReader) error {
	for attempt := 0; ; attempt++ {
		if _, err := part.Seek(0, io.SeekStart); err != nil {
			return err
		}
		err := c.PutPresigned(ctx, &Upload{Method: u.Method, URL: u.URL, Headers: u.Headers}, u.Size, part)
		if err == nil {
			return nil
		}
		var p *Problem
		retryable := !errors.As(err, &p) || p.Temporary() || p.Status == http.StatusBadRequest
		if ctx.Err() != nil || !retryable || attempt >= c.opts.MaxRetries || c.opts.MaxRetries < 0 {
			return err
		}
		if err := c.sleep(ctx, c.backoff(attempt)); err != nil {
			return err
		}
	}
}

// maxStamped bounds a stamped image read (1600 px JPEGs are a few hundred KB).
const maxStamped = 16 << 20

// StampedMedia returns the photo with its visible stamp of where and when
// (GET /v1/media/{id}/stamped), a JPEG, for reports and the desk.
func (c *Client) StampedMedia(ctx context.Context, id string) ([]byte, error) {
	var resp *http.Response
	err := c.retry(ctx, "media", func() (*http.Request, error) {
		return c.newRequest(ctx, http.MethodGet, "/v1/media/"+url.PathEscape(id)+"/stamped", nil, "", nil)
	}, true, &streamTaker{&resp})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, maxStamped))
}
