package media_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/field"
	"fieldsync/media"
	fsync "fieldsync/sync"

	"github.com/google/uuid"
)

// TestWithSyncEngine runs the media service on the real sync engine: the
// citing record is pushed like a phone would, and reading, the missing-
// evidence list and the sweep follow it.
func TestWithSyncEngine(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now()}
	e := newEnv(t, media.Options{CleanupAge: time.Hour, CleanupInterval: time.Minute, Now: clk.Now})
	eng, err := fsync.Open(context.Background(), e.db.Sync(), fsync.Options{Collections: field.Collections(field.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	svc := media.NewService(e.store, e.objects, eng, media.Options{CleanupAge: time.Hour, CleanupInterval: time.Minute, Now: clk.Now})
	t.Cleanup(svc.Wait)

	photo, err := svc.Upload(as(guardA), mustAnnounce(t, svc, pngBytes(t, 12, 12)), bytesReader(pngBytes(t, 12, 12)), -1)
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := svc.Upload(as(guardA), mustAnnounce(t, svc, pngBytes(t, 13, 13)), bytesReader(pngBytes(t, 13, 13)), -1)
	if err != nil {
		t.Fatal(err)
	}
	missing := uuid.NewString()
	inspection := uuid.NewString()
	res, err := eng.Push(as(guardA), fieldsync.PushRequest{DeviceID: guardA.DeviceID, Mutations: []fieldsync.Mutation{{
		MutationID: uuid.NewString(), Collection: fieldsync.CollInspections, Op: fieldsync.OpCreate, ID: inspection,
		Fields: map[string]json.RawMessage{"site_id": raw(`"s1"`), "category": raw(`"sanitation"`),
			"description": raw(`"leak in the car park"`), "photo_ids": raw(`["` + photo.ID + `","` + missing + `"]`)},
	}}})
	if err != nil || res.Results[0].Status != fieldsync.StatusApplied {
		t.Fatalf("push: got %+v, %v", res, err)
	}

	if _, err := svc.Get(as(agentA), photo.ID); err != nil {
		t.Fatalf("agent of the site: %v", err)
	}
	_, err = svc.Get(as(agentB), photo.ID)
	wantCode(t, err, fieldsync.ENotFound)
	_, err = svc.Get(as(agentA), orphan.ID)
	wantCode(t, err, fieldsync.ENotFound)

	list, err := svc.ListMissing(as(agentA), "s1")
	if err != nil || len(list) != 1 || list[0].MediaID != missing || list[0].Record.ID != inspection || list[0].Announced {
		t.Fatalf("missing: got %+v, %v; want %s cited by %s", list, err, missing, inspection)
	}

	clk.Add(2 * time.Hour)
	r, err := svc.Sweep(context.Background())
	if err != nil || r.UncitedRemoved != 1 || r.StillCited != 1 {
		t.Fatalf("sweep: got %+v, %v; want the orphan removed and the cited photo kept", r, err)
	}
	if _, err := e.store.GetMedia(context.Background(), "t1", photo.ID); err != nil {
		t.Fatalf("cited photo: %v", err)
	}
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }
