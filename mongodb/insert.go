package mongodb

import (
	"errors"
	"reflect"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Inserting documents the store has already encoded. The driver's
// InsertMany (and BulkWrite) learns each document's _id by decoding the
// whole document into a struct of one field, `struct{ ID any
// "bson:\"_id\""}`, element by element: for a record of 26 values, as much
// work again as copying it into the command. That struct type is the same
// type wherever it is spelled (an exported field), so a registry that
// decodes it by reading the elements only up to "_id" — the first element
// of every document the store makes — hands the driver the same id for a
// fraction of the work. Everything else (retryable writes, the command,
// its errors) stays the driver's.

// idOnly is the type the driver decodes a document into to read its _id.
var idOnly = reflect.TypeOf(struct {
	ID any `bson:"_id"`
}{})

// insertRegistry is the driver's default registry with idOnly read up to _id.
var insertRegistry = func() *bson.Registry {
	r := bson.NewRegistry()
	r.RegisterTypeDecoder(idOnly, bson.ValueDecoderFunc(decodeIDOnly))
	return r
}()

// decodeIDOnly decodes the _id of a document into an idOnly value and
// leaves the rest of the document unread; without an _id it leaves ID nil,
// as the struct decoder does.
func decodeIDOnly(dc bson.DecodeContext, vr bson.ValueReader, val reflect.Value) error {
	if !val.CanSet() || val.Type() != idOnly {
		return bson.ValueDecoderError{Name: "decodeIDOnly", Types: []reflect.Type{idOnly}, Received: val}
	}
	dr, err := vr.ReadDocument()
	if err != nil {
		return err
	}
	for {
		key, evr, err := dr.ReadElement()
		if errors.Is(err, bson.ErrEOD) {
			return nil
		}
		if err != nil {
			return err
		}
		if key != "_id" {
			if err := evr.Skip(); err != nil {
				return err
			}
			continue
		}
		if evr.Type() == bson.TypeString {
			s, err := evr.ReadString()
			if err != nil {
				return err
			}
			val.Field(0).Set(reflect.ValueOf(s))
			return nil
		}
		dec, err := dc.LookupDecoder(val.Field(0).Type())
		if err != nil {
			return err
		}
		return dec.DecodeValue(dc, evr, val.Field(0))
	}
}

// inserting is collection name of s's database, for inserting documents
// the store encoded (see insertRegistry).
func (s *SyncStore) inserting(name string) *mongo.Collection {
	return s.db.Collection(name, options.Collection().SetRegistry(insertRegistry))
}
