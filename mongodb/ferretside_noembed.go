//go:build noembed

package mongodb

import (
	"context"
	"time"

	fsync "fieldsync/sync"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// sideDoor is left out of this build (-tags noembed): it reads the
// embedded FerretDB's SQLite file, which a production binary does not link.
type sideDoor struct{}

func openSideDoor(context.Context, *mongo.Database) (*sideDoor, error) { return nil, nil }

func (d *sideDoor) close() error { return nil }

func sideDoorServes(fsync.Query) bool { return false }

func (d *sideDoor) ids(context.Context, string, string, fsync.Query) ([]string, error) {
	return nil, nil
}

func (d *sideDoor) expiredAudit(context.Context, string, time.Time, int) ([]string, error) {
	return nil, nil
}

func askIndexes(context.Context, *mongo.Database) error { return nil }

func (d *sideDoor) tenantsOver(context.Context, string, int) (map[string]int, error) { return nil, nil }

func sideWalkServes(fsync.Query) bool { return false }

func (s *SyncStore) sideWalk(context.Context, string, string, fsync.Query) (fsync.RecordCursor, bool, error) {
	return nil, false, nil
}

func (s *SyncStore) sideFind(context.Context, string, string, fsync.Query) ([]*fsync.Record, bool, error) {
	return nil, false, nil
}

func askWalkIndexes(context.Context, *mongo.Database, []string) error { return nil }
