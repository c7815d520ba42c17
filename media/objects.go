// Package media stores photo evidence in an S3-compatible object store through
// minio-go: server-built keys, presigned uploads, verification, thumbnails.
package media

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"fieldsync"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// ObjectStoreOptions say how to reach the object store.
type ObjectStoreOptions struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	Bucket    string
	Secure    bool
	// PublicEndpoint is the host:port phones use in presigned URLs; empty = Endpoint.
	PublicEndpoint string
	Region         string
}

// ObjectStore is a private bucket on an S3-compatible store.
type ObjectStore struct {
	Client *minio.Client
	// Public signs URLs for the host phones reach; it never sends a request itself.
	Public *minio.Client
	Bucket string
}

// OpenObjectStore connects to the object store. It does not contact it.
func OpenObjectStore(o ObjectStoreOptions) (*ObjectStore, error) {
	region := o.Region
	if region == "" {
		region = "us-east-1"
	}
	mk := func(endpoint string) (*minio.Client, error) {
		return minio.New(endpoint, &minio.Options{
			Creds:  credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""),
			Secure: o.Secure,
			Region: region,
		})
	}
	c, err := mk(o.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("media: object store: %w", err)
	}
	pub := c
	if o.PublicEndpoint != "" && o.PublicEndpoint != o.Endpoint {
		if pub, err = mk(o.PublicEndpoint); err != nil {
			return nil, fmt.Errorf("media: public object store endpoint: %w", err)
		}
	}
	return &ObjectStore{Client: c, Public: pub, Bucket: o.Bucket}, nil
}

// EnsureBucket creates the bucket if it does not exist.
func (s *ObjectStore) EnsureBucket(ctx context.Context) error {
	ok, err := s.Client.BucketExists(ctx, s.Bucket)
	if err != nil {
		return MapError(err)
	}
	if ok {
		return nil
	}
	if err := s.Client.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{}); err != nil {
		if r := minio.ToErrorResponse(err); r.Code == "BucketAlreadyOwnedByYou" || r.Code == "BucketAlreadyExists" {
			return nil
		}
		return MapError(err)
	}
	return nil
}

// Ping checks the object store answers and the bucket exists; unavailable otherwise.
func (s *ObjectStore) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ok, err := s.Client.BucketExists(ctx, s.Bucket)
	if err != nil {
		return MapError(err)
	}
	if !ok {
		return fieldsync.Errorf(fieldsync.EUnavailable, "object store bucket missing")
	}
	return nil
}

// MapError translates object-store errors at this boundary.
func MapError(err error) error {
	if err == nil {
		return nil
	}
	r := minio.ToErrorResponse(err)
	switch r.Code {
	case "NoSuchKey", "NoSuchBucket", "NoSuchUpload":
		return fieldsync.WrapError(fieldsync.ENotFound, "object not found", err)
	case "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId":
		return fieldsync.WrapError(fieldsync.EInternal, "object store refused the request", err)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || r.StatusCode >= 500 {
		return &fieldsync.Error{Code: fieldsync.EUnavailable, Message: "object store unavailable", RetryAfter: 10, Err: err}
	}
	return fieldsync.WrapError(fieldsync.EInternal, "object store error", err)
}
