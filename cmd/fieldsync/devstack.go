package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"fieldsync/devstack"
)

// runDevstack hosts only the embedded stores, prints the FIELDSYNC_* variables
// that point an API process at them, and runs until ctx ends. The benchmark
// uses it so the API process's CPU and memory figures are its own.
func runDevstack(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	envFile := ""
	if len(args) == 2 && args[0] == "--env-file" {
		// Absolute now: the embedded S3 gateway changes the working directory at start.
		var err error
		if envFile, err = filepath.Abs(args[1]); err != nil {
			return fmt.Errorf("devstack: --env-file %q: %w", args[1], err)
		}
	} else if len(args) != 0 {
		return fmt.Errorf("usage: fieldsync devstack [--env-file PATH]")
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("config: FIELDSYNC_DATA_DIR=%q: %w", cfg.DataDir, err)
	}
	log := newLogger(cfg, stderr)
	if cfg.DebugAddr != "" {
		stopDebug, err := startDebug(cfg.DebugAddr, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}
	st, err := devstack.Start(ctx, devstack.Options{Dir: dir, Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()
	env := fmt.Sprintf("FIELDSYNC_MONGO_URI=%s\nFIELDSYNC_S3_ENDPOINT=%s\nFIELDSYNC_S3_ACCESS_KEY=%s\nFIELDSYNC_S3_SECRET_KEY=%s\n",
		st.MongoURI, st.S3Endpoint, st.S3AccessKey, st.S3SecretKey)
	if envFile != "" {
		// Written whole and renamed, so a reader never sees half of it.
		tmp := envFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(env), 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, envFile); err != nil {
			return err
		}
	} else {
		fmt.Fprint(stdout, env)
	}
	<-ctx.Done()
	return nil
}
