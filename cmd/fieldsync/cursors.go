package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// runCursors runs `fieldsync cursors reset`: after the database was restored
// from a backup, every phone's cursor may name positions the restored
// change log will hand out again for other changes, so going on from it
// would skip them. A new cursor key expires every cursor at once: each
// phone's next pull answers cursor_expired and it bootstraps again.
func runCursors(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 || args[0] != "reset" {
		return errors.New("usage: fieldsync cursors reset")
	}
	app, err := OpenApp(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer app.Close()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := app.store.Sync().ResetCursorKey(ctx, key); err != nil {
		return fmt.Errorf("cursors reset: %w", err)
	}
	fmt.Fprintln(stdout, "cursor key reset: every phone bootstraps on its next pull; restart every running API instance")
	return nil
}
