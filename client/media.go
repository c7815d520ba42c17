package client

import (
	"context"
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
