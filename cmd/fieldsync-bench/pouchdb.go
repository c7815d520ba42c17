package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// pouchSystem drives pouchdb-server (CouchDB protocol): _bulk_docs to push,
// _changes?include_docs=true to pull.
type pouchSystem struct {
	base string // http://host:port/db
	http *http.Client
	page int
}

func newPouchSystem(ctx context.Context, baseURL, db string, page int) (*pouchSystem, error) {
	s := &pouchSystem{base: baseURL + "/" + url.PathEscape(db), http: httpClient(), page: page}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, s.base, nil)
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusPreconditionFailed {
		return nil, fmt.Errorf("pouchdb: create db: %s", resp.Status)
	}
	return s, nil
}

func (s *pouchSystem) push(ctx context.Context, b batch) error {
	docs := make([]map[string]any, len(b.Records))
	for i, r := range b.Records {
		d := make(map[string]any, len(r.Fields)+1)
		for k, v := range r.Fields {
			d[k] = v
		}
		d["_id"] = r.ID
		docs[i] = d
	}
	body, err := json.Marshal(map[string]any{"docs": docs})
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/_bulk_docs", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pouchdb: _bulk_docs: %s", resp.Status)
	}
	var res []struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return fmt.Errorf("pouchdb: _bulk_docs answer: %w", err)
	}
	for _, r := range res {
		if !r.OK {
			return fmt.Errorf("pouchdb: _bulk_docs: %s", r.Error)
		}
	}
	return nil
}

// pull reads _changes from since in pages until a page comes back short.
func (s *pouchSystem) pull(ctx context.Context, since string, seen func(id string)) (string, latencies, error) {
	limit := s.page
	if since == "" {
		since = "0"
	}
	var lat latencies
	for {
		t := time.Now()
		u := s.base + "/_changes?include_docs=true&limit=" + strconv.Itoa(limit) + "&since=" + url.QueryEscape(since)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := s.http.Do(req)
		if err != nil {
			return since, lat, err
		}
		var page struct {
			Results []struct {
				ID  string          `json:"id"`
				Doc json.RawMessage `json:"doc"`
			} `json:"results"`
			LastSeq json.RawMessage `json:"last_seq"`
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return since, lat, fmt.Errorf("pouchdb: _changes: %s", resp.Status)
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return since, lat, fmt.Errorf("pouchdb: _changes answer: %w", err)
		}
		lat = append(lat, time.Since(t))
		for _, r := range page.Results {
			seen(r.ID)
		}
		since = seqString(page.LastSeq)
		if len(page.Results) < limit {
			return since, lat, nil
		}
	}
}

// seqString renders a CouchDB sequence (a number in PouchDB, a string in CouchDB 2+).
func seqString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// stream: pouchdb-server has no single-stream bootstrap in this workload.
func (s *pouchSystem) stream(context.Context, func(string)) (bool, error) { return false, nil }

func (s *pouchSystem) commands(context.Context) (int64, bool) { return 0, false }

func (s *pouchSystem) close() {}
