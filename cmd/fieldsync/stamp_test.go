package main

import (
	"context"
	"testing"

	"fieldsync"
	"fieldsync/devstack/devtest"
	"fieldsync/field"
	fsync "fieldsync/sync"

	"github.com/google/uuid"
)

// TestStampLabelsNameTheSiteAndThePlace: a stamped photo names its site and
// where the citing record is — its location, else building and unit, and
// its checkpoint.
func TestStampLabelsNameTheSiteAndThePlace(t *testing.T) {
	// Not parallel: it may be the first to start the embedded stores, which
	// needs a working directory that still exists (an earlier test's
	// in-process gateway leaves this binary in a removed one).
	chdirPkg(t)
	ctx := context.Background()
	store := devtest.MustOpenStore(t)
	e, err := fsync.Open(ctx, store.Sync(), fsync.Options{Collections: field.Collections(field.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	site, cp, at, unit := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	err = e.Apply(ctx, "t1", []fsync.Write{
		{Collection: fieldsync.CollSites, ID: site, Create: true, SiteID: site, Set: map[string]any{"name": "海景花园"}},
		{Collection: fieldsync.CollCheckpoints, ID: cp, Create: true, SiteID: site, Set: map[string]any{"name": "B2 car park", "code": "CP-1"}},
		{Collection: fieldsync.CollInspections, ID: at, Create: true, SiteID: site, Set: map[string]any{"category": "other",
			"location": "east gate", "checkpoint_id": cp}},
		{Collection: fieldsync.CollComplaints, ID: unit, Create: true, SiteID: site, Set: map[string]any{"channel": "phone",
			"content": "x", "building": "3", "unit": "3-201"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	l := stampLabels{e}
	for _, c := range []struct {
		ref       *fieldsync.RecordRef
		wantPlace string
	}{
		{&fieldsync.RecordRef{Collection: fieldsync.CollInspections, ID: at}, "east gate · B2 car park"},
		{&fieldsync.RecordRef{Collection: fieldsync.CollComplaints, ID: unit}, "3 3-201"},
		{&fieldsync.RecordRef{Collection: fieldsync.CollInspections, ID: uuid.NewString()}, ""},
		{nil, ""},
	} {
		name, place, err := l.StampLabels(ctx, "t1", site, c.ref)
		if err != nil || name != "海景花园" || place != c.wantPlace {
			t.Errorf("%+v: got %q, %q, %v; want 海景花园, %q", c.ref, name, place, err, c.wantPlace)
		}
	}
}
