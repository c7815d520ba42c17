package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"fieldsync/client"

	"github.com/google/uuid"
)

const (
	collInspections = "inspections"
	collWorkOrders  = "work_orders"
	collComplaints  = "complaints"
)

// Roles as the server names them.
const (
	roleGuard      = "guard"
	roleTechnician = "technician"
	roleCSAgent    = "cs_agent"
	roleSupervisor = "supervisor"
)

var (
	categories  = []string{"facilities", "fire_safety", "vehicles", "renovation", "sanitation", "greening", "other"}
	severities  = []string{"low", "medium", "high", "critical"}
	channels    = []string{"phone", "on_site", "front_desk", "app"}
	priorities  = []string{"urgent", "normal", "low"}
	descriptors = []string{"leaking pipe in stairwell B", "fire door propped open", "car parked on the fire lane",
		"unapproved renovation noise", "bins overflowing at gate 2", "broken sprinkler in the garden",
		"lift stuck between floors", "lobby light flickering", "graffiti on the car park wall"}
)

// entry is a record as a device holds it.
type entry struct {
	version int64
	doc     string // canonical JSON (sorted keys)
	fields  map[string]any
}

// device is one phone: a logged-in client, its local copy of its scope, its outbox.
type device struct {
	w     *world
	c     *client.Client
	id    string
	role  string
	user  client.User
	rng   *rand.Rand
	local map[string]*entry // collection/id
	// created are the records this device created (guards edit their own inspections).
	created  []string
	cursor   string
	outbox   []client.Mutation
	offline  time.Time // offline until
	failures []string
}

func (w *world) newDevice(ctx context.Context, hc *http.Client, a Account, deviceID string, seed uint64) (*device, error) {
	c, err := client.New(w.opts.BaseURL, client.Options{HTTPClient: hc, Observe: w.observe, UserAgent: "fieldsync-sim"})
	if err != nil {
		return nil, err
	}
	s, err := c.Login(ctx, client.Credentials{Username: a.Username, Password: a.Password, DeviceID: deviceID, Tenant: w.opts.Tenant})
	if err != nil {
		return nil, fmt.Errorf("sim: login %s: %w", a.Username, err)
	}
	d := &device{w: w, c: c, id: deviceID, role: s.User.Role, user: s.User, rng: rand.New(rand.NewPCG(seed, 1)), local: map[string]*entry{}}
	if d.role == roleTechnician {
		w.addTechnician(s.User.ID, s.User.Department)
	}
	return d, nil
}

func (d *device) failf(format string, args ...any) {
	d.failures = append(d.failures, fmt.Sprintf(format, args...))
}

// play runs rounds until ctx ends or the rounds are done.
func (d *device) play(ctx context.Context) {
	if err := d.pull(ctx); err != nil && ctx.Err() == nil {
		d.failf("first pull: %v", err)
	}
	for round := 0; d.w.opts.Rounds == 0 || round < d.w.opts.Rounds; round++ {
		if ctx.Err() != nil {
			return
		}
		d.work(ctx)
		now := time.Now()
		if now.Before(d.offline) {
			// Offline: the work waits in the outbox.
		} else {
			if !d.offline.IsZero() {
				d.offline = time.Time{}
				d.w.cnt.offline.Add(-1)
			}
			if d.w.opts.OfflineRate > 0 && d.rng.Float64() < d.w.opts.OfflineRate {
				d.offline = now.Add(d.w.opts.OfflineFor)
				d.w.cnt.offline.Add(1)
			} else if err := d.sync(ctx); err != nil && ctx.Err() == nil {
				d.failf("sync: %v", err)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(d.w.opts.Think/2 + rand.N(d.w.opts.Think)):
		}
	}
}

func (d *device) sync(ctx context.Context) error {
	if err := d.flush(ctx); err != nil {
		return err
	}
	return d.pull(ctx)
}

// flush pushes the outbox in batches; a push that fails for good stays in the outbox.
func (d *device) flush(ctx context.Context) error {
	if !d.offline.IsZero() {
		d.offline = time.Time{}
		d.w.cnt.offline.Add(-1)
	}
	for len(d.outbox) > 0 {
		n := min(len(d.outbox), d.w.opts.BatchSize)
		res, err := d.c.Push(ctx, d.outbox[:n])
		if err != nil {
			return err
		}
		d.w.cnt.pushes.Add(1)
		for i, r := range res {
			d.result(d.outbox[i], r)
		}
		d.outbox = d.outbox[n:]
	}
	return nil
}

func (d *device) result(m client.Mutation, r client.Result) {
	c := &d.w.cnt
	c.pushed.Add(1)
	switch r.Status {
	case client.StatusApplied:
		c.applied.Add(1)
		if m.Op == client.OpCreate {
			d.created = append(d.created, key(m.Collection, m.ID))
		}
	case client.StatusDuplicate:
		c.duplicates.Add(1)
		if m.Op == client.OpCreate {
			d.created = append(d.created, key(m.Collection, m.ID))
		}
	case client.StatusConflict:
		c.conflicts.Add(1)
	case client.StatusRejected:
		code := "unknown"
		if r.Error != nil {
			code = r.Error.Code
		}
		d.w.reject(code)
		if m.Op == client.OpCreate {
			d.w.createRejected(m.Collection, code)
		}
	}
}

// pull applies every change after the device's cursor.
func (d *device) pull(ctx context.Context) error {
	cur, pages, err := d.c.PullAll(ctx, d.cursor, 0, func(ch client.Change) error {
		d.w.cnt.pulled.Add(1)
		return apply(d.local, ch)
	})
	d.w.cnt.pulls.Add(int64(pages))
	if err != nil {
		var p *client.Problem
		if errors.As(err, &p) && p.Code == "cursor_expired" {
			d.cursor, d.local = "", map[string]*entry{}
			return d.pull(ctx)
		}
		return err
	}
	d.cursor = cur
	return nil
}

func key(coll, id string) string { return coll + "/" + id }

// apply puts one change into a local copy.
func apply(local map[string]*entry, ch client.Change) error {
	k := key(ch.Collection, ch.ID)
	if ch.Op == client.ChangeDelete {
		delete(local, k)
		return nil
	}
	var fields map[string]any
	if err := json.Unmarshal(ch.Doc, &fields); err != nil {
		return fmt.Errorf("%s: bad doc: %w", k, err)
	}
	canon, _ := json.Marshal(fields)
	local[k] = &entry{version: ch.Version, doc: string(canon), fields: fields}
	return nil
}

// work queues one round of the role's work into the outbox.
func (d *device) work(ctx context.Context) {
	switch d.role {
	case roleGuard:
		d.queue(d.newInspection(ctx))
		if d.rng.IntN(3) == 0 {
			d.queue(d.editOwn(collInspections))
		}
	case roleCSAgent, roleSupervisor:
		switch d.rng.IntN(4) {
		case 0:
			if d.w.isEnabled(collComplaints) {
				d.queue(d.newComplaint())
			}
		case 1:
			if d.w.isEnabled(collWorkOrders) {
				d.queue(d.dispatch()...)
			}
		default:
			// Edits of other people's inspections: the source of real conflicts.
			d.queue(d.editAny(collInspections))
		}
	case roleTechnician:
		d.queue(d.advanceOrder())
	}
}

func (d *device) queue(ms ...client.Mutation) {
	for _, m := range ms {
		if m.Op != "" {
			d.outbox = append(d.outbox, m)
		}
	}
}

func (d *device) site() string {
	if len(d.user.SiteIDs) == 0 {
		return ""
	}
	return d.user.SiteIDs[d.rng.IntN(len(d.user.SiteIDs))]
}

func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

func (d *device) pick(xs []string) string { return xs[d.rng.IntN(len(xs))] }

func (d *device) newInspection(ctx context.Context) client.Mutation {
	id := newID()
	f := map[string]any{
		"site_id":     d.site(),
		"category":    d.pick(categories),
		"severity":    d.pick(severities),
		"description": d.pick(descriptors),
		"location":    fmt.Sprintf("Building %d, floor %d", 1+d.rng.IntN(6), d.rng.IntN(20)),
	}
	if d.w.opts.PhotoRate > 0 && d.rng.Float64() < d.w.opts.PhotoRate && !time.Now().Before(d.offline) {
		if mid, err := d.photo(ctx, id); err == nil {
			f["photo_ids"] = []string{mid}
			d.w.cnt.photos.Add(1)
		} else if ctx.Err() == nil {
			d.w.cnt.photoErrors.Add(1)
		}
	}
	return client.Mutation{MutationID: uuid.NewString(), Collection: collInspections, Op: client.OpCreate, ID: id, Fields: f}
}

// photo makes a small JPEG and uploads it through the resumable path (the
// parts go straight to the object store; the API assembles and verifies).
func (d *device) photo(ctx context.Context, recordID string) (string, error) {
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	c := color.RGBA{uint8(d.rng.IntN(256)), uint8(d.rng.IntN(256)), uint8(d.rng.IntN(256)), 255}
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		return "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	id := newID()
	m, err := d.c.CreateMedia(ctx, client.NewMedia{ID: id, ContentType: "image/jpeg", Size: int64(buf.Len()),
		SHA256: hex.EncodeToString(sum[:]), Record: &client.RecordLink{Collection: collInspections, ID: recordID}})
	if err != nil {
		return "", err
	}
	if m.Status != "stored" {
		b := buf.Bytes()
		if _, err := d.c.UploadResumable(ctx, id, bytes.NewReader(b), int64(len(b))); err != nil {
			return "", err
		}
	}
	return id, nil
}

// editOwn updates a record this device created, at the version it holds.
func (d *device) editOwn(coll string) client.Mutation {
	var mine []string
	for _, k := range d.created {
		if _, ok := d.local[k]; ok && strings.HasPrefix(k, coll+"/") {
			mine = append(mine, k)
		}
	}
	if len(mine) == 0 {
		return client.Mutation{}
	}
	return d.edit(mine[d.rng.IntN(len(mine))], coll)
}

// editAny updates any record of coll in the device's scope.
func (d *device) editAny(coll string) client.Mutation {
	var keys []string
	for k := range d.local {
		if strings.HasPrefix(k, coll+"/") {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return client.Mutation{}
	}
	slices.Sort(keys)
	return d.edit(keys[d.rng.IntN(len(keys))], coll)
}

func (d *device) edit(k, coll string) client.Mutation {
	e := d.local[k]
	id := k[len(coll)+1:]
	f := map[string]any{"severity": d.pick(severities)}
	if d.rng.IntN(2) == 0 {
		f = map[string]any{"description": d.pick(descriptors) + " (updated)"}
	}
	return client.Mutation{MutationID: uuid.NewString(), Collection: coll, Op: client.OpUpdate, ID: id, BaseVersion: e.version, Fields: f}
}

func (d *device) newComplaint() client.Mutation {
	return client.Mutation{MutationID: uuid.NewString(), Collection: collComplaints, Op: client.OpCreate, ID: newID(),
		Fields: map[string]any{
			"site_id":  d.site(),
			"channel":  d.pick(channels),
			"category": d.pick(categories),
			"content":  "Owner reports: " + d.pick(descriptors),
		}}
}

// dispatch creates a work order of a technician's department and assigns it to them.
func (d *device) dispatch() []client.Mutation {
	id := newID()
	tech := d.w.technician(d.rng)
	dept := tech.department
	if dept == "" {
		dept = "engineering"
	}
	create := client.Mutation{MutationID: uuid.NewString(), Collection: collWorkOrders, Op: client.OpCreate, ID: id,
		Fields: map[string]any{
			"site_id":     d.site(),
			"source":      "owner_request",
			"department":  dept,
			"priority":    d.pick(priorities),
			"title":       d.pick(descriptors),
			"description": "Please repair: " + d.pick(descriptors),
		}}
	if tech.id == "" {
		return []client.Mutation{create}
	}
	assign := client.Mutation{MutationID: uuid.NewString(), Collection: collWorkOrders, Op: client.OpAction, ID: id,
		BaseVersion: 1, Action: "assign", Args: map[string]any{"assignee_id": tech.id}}
	return []client.Mutation{create, assign}
}

// nextAction is the technician's next step on an order in a given status.
var nextAction = map[string]string{"assigned": "accept", "accepted": "start", "in_progress": "complete"}

// advanceOrder moves one of the technician's orders one step along.
func (d *device) advanceOrder() client.Mutation {
	var keys []string
	for k, e := range d.local {
		if strings.HasPrefix(k, collWorkOrders+"/") {
			if st, _ := e.fields["status"].(string); nextAction[st] != "" {
				keys = append(keys, k)
			}
		}
	}
	if len(keys) == 0 {
		return client.Mutation{}
	}
	slices.Sort(keys)
	k := keys[d.rng.IntN(len(keys))]
	e := d.local[k]
	st, _ := e.fields["status"].(string)
	m := client.Mutation{MutationID: uuid.NewString(), Collection: collWorkOrders, Op: client.OpAction,
		ID: k[len(collWorkOrders)+1:], BaseVersion: e.version, Action: nextAction[st]}
	if m.Action == "complete" {
		m.Args = map[string]any{"resolution": "Fixed on site", "parts": []string{"valve"}}
	}
	return m
}

// converge pulls to the end, then compares the local copy with a fresh bootstrap of the scope.
func (d *device) converge(ctx context.Context) error {
	if err := d.pull(ctx); err != nil {
		return fmt.Errorf("final pull: %w", err)
	}
	fresh := map[string]*entry{}
	_, err := d.c.Bootstrap(ctx, func(ch client.Change) error { return apply(fresh, ch) })
	var p *client.Problem
	if errors.As(err, &p) && (p.Status == http.StatusNotFound || p.Status == http.StatusMethodNotAllowed) {
		// A server without the stream: bootstrap through paged pulls.
		fresh = map[string]*entry{}
		_, _, err = d.c.PullAll(ctx, "", 0, func(ch client.Change) error { return apply(fresh, ch) })
	}
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	return diff(d.local, fresh)
}

// diff describes how a local copy differs from the server's (nil when equal).
func diff(local, server map[string]*entry) error {
	var missing, extra, stale []string
	for k, s := range server {
		l, ok := local[k]
		switch {
		case !ok:
			missing = append(missing, k)
		case l.version != s.version || l.doc != s.doc:
			stale = append(stale, fmt.Sprintf("%s (v%d, server v%d)", k, l.version, s.version))
		}
	}
	for k := range local {
		if _, ok := server[k]; !ok {
			extra = append(extra, k)
		}
	}
	if len(missing)+len(extra)+len(stale) == 0 {
		return nil
	}
	first := func(xs []string) string {
		slices.Sort(xs)
		if len(xs) > 3 {
			return fmt.Sprint(xs[:3], "…")
		}
		return fmt.Sprint(xs)
	}
	return fmt.Errorf("diverged from a fresh bootstrap (%d records): %d missing %s, %d not on the server %s, %d differ %s",
		len(server), len(missing), first(missing), len(extra), first(extra), len(stale), first(stale))
}
