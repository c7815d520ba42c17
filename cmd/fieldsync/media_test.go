package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/jpeg"
	"io"
	"testing"

	"fieldsync/auth"
	"fieldsync/client"

	"github.com/google/uuid"
)

// TestEvidenceThroughTheServer: on `fieldsync serve`, a guard's phone sends
// a photo through the resumable upload and the desk's stamped image of it is
// served (site names from the seeded sites records).
func TestEvidenceThroughTheServer(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if err := run(ctx, []string{"seed", "demo"}, envOf(map[string]string{"FIELDSYNC_DATA_DIR": dir}), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	serveOnce(t, dir, func(base string) {
		c, err := client.New(base, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Login(ctx, client.Credentials{Username: "guard.a1", Password: auth.DemoPassword, DeviceID: "p-evidence", Tenant: "demo"}); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 320, 240)), nil); err != nil {
			t.Fatal(err)
		}
		photo := buf.Bytes()
		sum := sha256.Sum256(photo)
		id := uuid.NewString()
		if _, err := c.CreateMedia(ctx, client.NewMedia{ID: id, ContentType: "image/jpeg", Size: int64(len(photo)), SHA256: hex.EncodeToString(sum[:])}); err != nil {
			t.Fatal(err)
		}
		m, err := c.UploadResumable(ctx, id, bytes.NewReader(photo), int64(len(photo)))
		if err != nil || m.Status != "stored" || m.Kind != "photo" {
			t.Fatalf("resumable upload: got %+v, %v; want a stored photo", m, err)
		}
		b, err := c.StampedMedia(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if cfg, err := jpeg.DecodeConfig(bytes.NewReader(b)); err != nil || cfg.Width != 320 {
			t.Fatalf("stamped: got %+v, %v; want a 320 px JPEG", cfg, err)
		}
	})
}
