//go:build noembed

// Package devstack is left out of this build (-tags noembed): configure
// FIELDSYNC_MONGO_URI and FIELDSYNC_S3_ENDPOINT instead.
package devstack

import (
	"context"
	"errors"
	"log/slog"
)

// Available reports whether this binary was built with the embedded stack.
const Available = false

// Options configure Start.
type Options struct {
	Dir            string
	Logger         *slog.Logger
	NoDatabase     bool
	NoObjectStore  bool
	UnlockedWrites bool
}

// Stack is never running in this build.
type Stack struct {
	MongoURI, S3Endpoint, S3AccessKey, S3SecretKey string
}

// Start always fails in this build.
func Start(context.Context, Options) (*Stack, error) {
	return nil, errors.New("devstack: built without the embedded stack (-tags noembed); set FIELDSYNC_MONGO_URI and FIELDSYNC_S3_ENDPOINT")
}

// Close does nothing.
func (s *Stack) Close() {}

// PauseDatabase does nothing in this build.
func (s *Stack) PauseDatabase() {}

// ResumeDatabase does nothing in this build.
func (s *Stack) ResumeDatabase() error { return nil }
