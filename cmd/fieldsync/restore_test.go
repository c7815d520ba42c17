package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"fieldsync/client"

	"github.com/google/uuid"
)

// TestCursorsResetAfterRestore: the embedded store is backed up (stopped,
// directory copied), a guard pushes and the desk pulls past the backup
// point, the backup is restored and the guard pushes new records at the
// positions the desk's cursor already covers — going on from that cursor
// would skip them. After `fieldsync cursors reset` the desk's old cursor
// answers 410 cursor_expired, and a bootstrap holds exactly the restored
// server's records: the new ones, none of those the restore took away.
func TestCursorsResetAfterRestore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	seedDemoProcess(t, dir)
	addr := freePort(t)
	env := []string{"FIELDSYNC_ADDR=" + addr, "FIELDSYNC_RATE_PER_DEVICE=off", "FIELDSYNC_RATE_PER_ADDRESS=off"}
	base := "http://" + addr
	stop := func(p *proc) {
		if err := p.term(t); err != nil {
			t.Fatalf("stop: %v\n%s", err, p.logs.String())
		}
	}
	backup := filepath.Join(t.TempDir(), "backup")
	if err := os.CopyFS(backup, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}

	p := startProcess(t, dir, env...)
	lost := pushInspections(t, newDevice(t, base, "guard.b1", 1), 3)
	desk := newDevice(t, base, "cs.b1", 1)
	cursor, _, err := desk.c.PullAll(context.Background(), "", 500, func(client.Change) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	stop(p)

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dir, os.DirFS(backup)); err != nil {
		t.Fatal(err)
	}
	p = startProcess(t, dir, env...)
	written := pushInspections(t, newDevice(t, base, "guard.b1", 2), 5)
	stop(p)

	reset := exec.Command(fieldsyncBinary(t), "cursors", "reset")
	reset.Env = append(reset.Environ(), "FIELDSYNC_DATA_DIR="+dir)
	if out, err := reset.CombinedOutput(); err != nil {
		t.Fatalf("fieldsync cursors reset: %v\n%s", err, out)
	}
	startProcess(t, dir, env...)
	desk = newDevice(t, base, "cs.b1", 2)
	_, err = desk.c.Pull(context.Background(), cursor, 500)
	var pr *client.Problem
	if !errors.As(err, &pr) || pr.Status != 410 || pr.Code != "cursor_expired" {
		t.Fatalf("pull with a cursor from before the restore: got %v, want 410 cursor_expired", err)
	}
	held := map[string]bool{}
	if _, _, err := desk.c.PullAll(context.Background(), "", 500, func(ch client.Change) error {
		held[ch.ID] = ch.Op == client.ChangeUpsert
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range written {
		if !held[id] {
			t.Errorf("record %s written after the restore is missing from the bootstrap", id)
		}
	}
	for _, id := range lost {
		if held[id] {
			t.Errorf("record %s the restore took away came in the bootstrap", id)
		}
	}
}

// pushInspections creates n inspections at d's site and returns their ids.
func pushInspections(t *testing.T, d *device, n int) []string {
	t.Helper()
	var ids []string
	var muts []client.Mutation
	for range n {
		id, _ := uuid.NewV7()
		ids = append(ids, id.String())
		muts = append(muts, client.Mutation{MutationID: uuid.NewString(), Collection: "inspections", Op: client.OpCreate,
			ID: id.String(), Fields: map[string]any{"site_id": d.site, "category": "sanitation", "description": "found on patrol"}})
	}
	res, err := d.c.Push(context.Background(), muts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Status != client.StatusApplied {
			t.Fatalf("push: %+v", r)
		}
	}
	return ids
}
