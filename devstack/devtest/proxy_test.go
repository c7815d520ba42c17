package devtest_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"fieldsync/devstack/devtest"

	"github.com/minio/minio-go/v7"
)

func TestMain(m *testing.M) { devtest.Main(m) }

// TestProxyPauseResume takes the object store away behind the proxy and
// brings it back on the same address: requests fail while paused (including
// a download already streaming) and work again after.
func TestProxyPauseResume(t *testing.T) {
	t.Parallel()
	o, p := devtest.MustOpenObjectsVia(t)
	ctx := context.Background()
	if err := o.Ping(ctx); err != nil {
		t.Fatalf("ping through the proxy: %v", err)
	}
	body := bytes.Repeat([]byte("x"), 8<<20)
	if _, err := o.Client.PutObject(ctx, o.Bucket, "k", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	obj, err := o.Client.GetObject(ctx, o.Bucket, "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	first := make([]byte, 10)
	if _, err := io.ReadFull(obj, first); err != nil {
		t.Fatal(err)
	}

	p.Pause()
	if _, err := io.ReadAll(obj); err == nil {
		t.Error("a download streaming through the proxy survived Pause")
	}
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := o.Ping(short); err == nil {
		t.Fatal("ping succeeded while the proxy is paused")
	}

	p.Resume()
	if err := o.Ping(ctx); err != nil {
		t.Fatalf("ping after Resume: %v", err)
	}
	if info, err := o.Client.StatObject(ctx, o.Bucket, "k", minio.StatObjectOptions{}); err != nil || info.Size != int64(len(body)) {
		t.Fatalf("stat after Resume: %v %+v", err, info)
	}
}
