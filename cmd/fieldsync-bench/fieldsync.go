package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"fieldsync/client"

	"github.com/google/uuid"
)

// fsSystem drives a fieldsync API through the public client package, as phones do.
type fsSystem struct {
	base, debugURL string
	creds          client.Credentials
	devices        []*client.Client
	fresh          *client.Client // the new phone that pulls everything
	collection     string
	tag            string
	page           int
}

func newFieldsyncSystem(ctx context.Context, base, debugURL string, creds client.Credentials, devices, page int, tag string) (*fsSystem, error) {
	s := &fsSystem{base: base, debugURL: debugURL, creds: creds, collection: "inspections", tag: tag, page: page}
	for i := range devices {
		c, err := s.login(ctx, fmt.Sprintf("bench-%s-d%02d", tag, i))
		if err != nil {
			return nil, err
		}
		s.devices = append(s.devices, c)
	}
	var err error
	if s.fresh, err = s.login(ctx, "bench-"+tag+"-fresh"); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *fsSystem) login(ctx context.Context, device string) (*client.Client, error) {
	c, err := client.New(s.base, client.Options{HTTPClient: httpClient(), UserAgent: "fieldsync-bench"})
	if err != nil {
		return nil, err
	}
	cr := s.creds
	cr.DeviceID = device
	if _, err := c.Login(ctx, cr); err != nil {
		return nil, fmt.Errorf("login %s as %s: %w", device, cr.Username, err)
	}
	return c, nil
}

func (s *fsSystem) push(ctx context.Context, b batch) error {
	muts := make([]client.Mutation, len(b.Records))
	for i, r := range b.Records {
		muts[i] = client.Mutation{MutationID: uuid.NewString(), Collection: s.collection, Op: client.OpCreate, ID: r.ID, Fields: r.Fields}
	}
	res, err := s.devices[b.Device].Push(ctx, muts)
	if err != nil {
		return err
	}
	for _, r := range res {
		if r.Status != client.StatusApplied && r.Status != client.StatusDuplicate {
			if r.Error != nil {
				return fmt.Errorf("push: mutation %s %s: %w", r.MutationID, r.Status, r.Error)
			}
			return fmt.Errorf("push: mutation %s %s", r.MutationID, r.Status)
		}
	}
	return nil
}

// pullAll pulls pages of limit from cursor until has_more is false.
func (s *fsSystem) pull(ctx context.Context, cursor string, seen func(id string)) (string, latencies, error) {
	var lat latencies
	for {
		t := time.Now()
		p, err := s.fresh.Pull(ctx, cursor, s.page)
		if err != nil {
			return cursor, lat, err
		}
		lat = append(lat, time.Since(t))
		for _, ch := range p.Changes {
			if ch.Collection == s.collection {
				seen(ch.ID)
			}
		}
		cursor = p.Cursor
		if !p.HasMore {
			return cursor, lat, nil
		}
	}
}

// stream reads the whole scope through the NDJSON bootstrap as a second new phone.
func (s *fsSystem) stream(ctx context.Context, seen func(id string)) (bool, error) {
	c, err := s.login(ctx, "bench-"+s.tag+"-stream")
	if err != nil {
		return true, err
	}
	_, err = c.Bootstrap(ctx, func(ch client.Change) error {
		if ch.Collection == s.collection {
			seen(ch.ID)
		}
		return nil
	})
	return true, err
}

func (s *fsSystem) close() {}

// dbCommands reads the API process's database command counter (FIELDSYNC_DEBUG_ADDR).
func (s *fsSystem) commands(ctx context.Context) (int64, bool) {
	if s.debugURL == "" {
		return 0, false
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.debugURL+"/debug/vars", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var v struct {
		DBCommands int64 `json:"db_commands"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&v); err != nil || v.DBCommands < 0 {
		return 0, false
	}
	return v.DBCommands, true
}
