package main

import (
	"context"

	"fieldsync/field"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"
)

// fieldCollections are the field-domain collections wired to the app's
// services (assignees are checked against the auth service's users). Every
// engine the app opens declares these.
func (a *App) fieldCollections() []*fsync.Collection {
	return field.Collections(field.Options{Users: a.auth, Deadlines: &mongodb.Settings{Store: a.store}})
}

// startJobs runs the field-domain server jobs (overdue and breach marking,
// escalation, missed checkpoints, repeat repairs) until ctx ends. Every
// instance runs them; a per-tenant lease in the database lets one at a time work.
func (a *App) startJobs(ctx context.Context) error {
	go a.engine.RunJobs(ctx, fsync.JobOptions{Jobs: field.Jobs})
	return nil
}
