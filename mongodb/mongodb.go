// Package mongodb is fieldsync's MongoDB store on the official driver v2. It
// runs unchanged on a MongoDB 6+/7 replica set and on the embedded FerretDB:
// no code path needs transactions or change streams.
package mongodb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	gosync "sync"
	"time"

	"fieldsync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// Options configure Open. Zero values mean defaults.
type Options struct {
	// Monitor, when set, sees every command the driver sends (tests count round trips with it).
	Monitor *CommandCounter
	// ServerSelectionTimeout bounds how long an operation waits for a reachable server (default 5s).
	ServerSelectionTimeout time.Duration
	// Collections are the synced collections (the field package's
	// registry, passed by cmd/): each one's records are a collection of that
	// name, indexed for the engine's and the reports' queries.
	Collections []fieldsync.SyncedCollection
}

// Store is a connection to one MongoDB database.
type Store struct {
	Client *mongo.Client
	DB     *mongo.Database
	// indexes are every index of the store: the declared ones and those of
	// its synced collections.
	indexes []index

	side struct {
		mu    gosync.Mutex
		door  *sideDoor
		tried bool
	}
}

// Open connects to uri and selects database name. It does not wait for the server.
func Open(ctx context.Context, uri, name string, opts Options) (*Store, error) {
	co := options.Client().ApplyURI(uri).
		SetWriteConcern(writeconcern.Majority()).
		SetReadConcern(readconcern.Majority()).
		SetRetryWrites(true)
	if opts.ServerSelectionTimeout > 0 {
		co.SetServerSelectionTimeout(opts.ServerSelectionTimeout)
	} else {
		co.SetServerSelectionTimeout(5 * time.Second)
	}
	if opts.Monitor != nil {
		co.SetMonitor(opts.Monitor.commandMonitor())
	}
	c, err := mongo.Connect(co)
	if err != nil {
		return nil, fmt.Errorf("mongodb: connect: %w", err)
	}
	return &Store{Client: c, DB: c.Database(name), indexes: append(slices.Clone(indexes), recordIndexes(opts.Collections)...)}, nil
}

// Close disconnects.
func (s *Store) Close(ctx context.Context) error {
	s.side.mu.Lock()
	if s.side.door != nil {
		s.side.door.close()
		s.side.door = nil
	}
	s.side.mu.Unlock()
	return s.Client.Disconnect(ctx)
}

// sideDoor returns the side door to the embedded FerretDB's file
// (ferretside.go), opened the first time; nil on any other server.
func (s *Store) sideDoor(ctx context.Context) (*sideDoor, error) {
	s.side.mu.Lock()
	defer s.side.mu.Unlock()
	if !s.side.tried {
		d, err := openSideDoor(ctx, s.DB)
		if err != nil {
			return nil, mapError(err)
		}
		s.side.door, s.side.tried = d, true
	}
	return s.side.door, nil
}

// Ping checks the database answers; unavailable otherwise.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.DB.RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err(); err != nil {
		return mapError(err)
	}
	return nil
}

// RetryAfterUnavailable is the Retry-After, in seconds, of every answer
// given while the database is unreachable.
const RetryAfterUnavailable = 5

// MapError is the one translation of driver errors into fieldsync errors,
// for every package that talks to the database: no documents → not_found,
// a duplicate key → conflict, timeouts, network errors and a cancelled
// request → unavailable (with RetryAfterUnavailable), anything else →
// internal. A *fieldsync.Error passes unchanged.
func MapError(err error) error {
	var fe *fieldsync.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		return err
	case errors.Is(err, mongo.ErrNoDocuments):
		return fieldsync.WrapError(fieldsync.ENotFound, "not found", err)
	case mongo.IsDuplicateKeyError(err):
		return fieldsync.WrapError(fieldsync.EConflict, "already exists", err)
	case errors.Is(err, context.Canceled), mongo.IsTimeout(err), mongo.IsNetworkError(err), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, mongo.ErrClientDisconnected), isServerSelection(err):
		return &fieldsync.Error{Code: fieldsync.EUnavailable, Message: "database unavailable", RetryAfter: RetryAfterUnavailable, Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return &fieldsync.Error{Code: fieldsync.EUnavailable, Message: "database unavailable", RetryAfter: RetryAfterUnavailable, Err: err}
	}
	return fieldsync.WrapError(fieldsync.EInternal, "database error", err)
}

func mapError(err error) error { return MapError(err) }

// DuplicateKeys reads the error of an unordered insertMany or bulkWrite:
// the positions in the batch of the writes refused for a duplicate key, and
// ok true when those are all its errors (false: another write error, a
// write-concern error, or not a bulk write error at all; nil err: ok, none).
func DuplicateKeys(err error) (at []int, ok bool) {
	if err == nil {
		return nil, true
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
		return nil, false
	}
	for _, we := range bwe.WriteErrors {
		if !mongo.IsDuplicateKeyError(we.WriteError) {
			return nil, false
		}
		at = append(at, we.Index)
	}
	return at, true
}

func isServerSelection(err error) bool {
	var se mongo.ServerError
	if errors.As(err, &se) {
		return false
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return true
	}
	return errors.Is(err, mongo.ErrClientDisconnected)
}
