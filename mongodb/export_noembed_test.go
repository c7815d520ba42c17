//go:build noembed

package mongodb

import (
	"context"

	fsync "fieldsync/sync"
)

// SideDoorPlan is "": this build has no side door (export_test.go).
func SideDoorPlan(context.Context, *SyncStore, string, string, fsync.Query) (string, error) {
	return "", nil
}

// BreakSideDoor does nothing: this build has no side door.
func BreakSideDoor(*SyncStore) {}

// SideWalkCounts is 0, 0: this build has no side door.
func SideWalkCounts() (walked, fellBack int64) { return 0, 0 }

// SideWalkPlan is "": this build has no side door.
func SideWalkPlan(context.Context, *SyncStore, string, string, fsync.Query, string) (string, error) {
	return "", nil
}

// SJSONToBSON is not in this build.
func SJSONToBSON([]byte) ([]byte, error) { return nil, nil }

// StoredTexts is nil: this build has no side door.
func StoredTexts(context.Context, *SyncStore, string, int) ([][]byte, error) { return nil, nil }
