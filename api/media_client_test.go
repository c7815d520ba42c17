package api_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"fieldsync"
	"fieldsync/auth"
	"fieldsync/client"

	"github.com/google/uuid"
)

// flakyFile is a phone's file read at offsets; the first time the upload
// (not the MD5 pass) reads part 2 a byte comes out flipped, as a bad radio
// link would deliver it. It counts the bytes read of part 1.
type flakyFile struct {
	b        []byte
	partSize int64
	mu       sync.Mutex
	starts   map[int64]int
	part1    int64
}

func (f *flakyFile) ReadAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := copy(p, f.b[off:])
	if off < f.partSize {
		f.part1 += int64(n)
	}
	if off == f.partSize { // a pass over part 2 starts
		f.starts[off]++
	}
	if f.starts[f.partSize] == 2 && off >= f.partSize && off < 2*f.partSize && n > 0 {
		p[0] ^= 0xFF // the first upload of part 2 is corrupted on the way
	}
	if n < len(p) {
		return n, fmt.Errorf("eof")
	}
	return n, nil
}

// TestGoClientResumesAnUpload: part 1 was sent before the app restarted; a
// new client (a new login) resumes with UploadResumable: it does not read or
// send part 1 again, sends part 2 again after the store refused its
// corrupted copy, and completes.
func TestGoClientResumesAnUpload(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	mustSeedUsers(t, srv)
	base := "http://" + serveOnLoopback(t, srv)
	ctx := context.Background()
	login := func() *client.Client {
		c, err := client.New(base, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Login(ctx, client.Credentials{Tenant: fieldsync.DemoTenant, Username: "guard.a1", Password: auth.DemoPassword, DeviceID: "phone-r"}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	body := testMovie(11<<20, 21) // 3 parts
	id := uuid.NewString()
	before := login()
	if _, err := before.CreateMedia(ctx, client.NewMedia{ID: id, Kind: "video", ContentType: "video/mp4", Size: int64(len(body)), SHA256: hexSHA256(body)}); err != nil {
		t.Fatal(err)
	}
	r, err := before.StartResumable(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	p1 := body[:r.PartSize]
	// The app before the restart signed part 1 for its MD5; the client now sends CRC32Cs.
	urls, err := before.PartURLs(ctx, id, []client.PartChecksum{{Number: 1, MD5: b64MD5(p1)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := before.PutPresigned(ctx, &client.Upload{Method: "PUT", URL: urls[0].URL, Headers: urls[0].Headers}, urls[0].Size, bytes.NewReader(p1)); err != nil {
		t.Fatal(err)
	}

	after := login() // the app restarted
	f := &flakyFile{b: body, partSize: r.PartSize, starts: map[int64]int{}}
	m, err := after.UploadResumable(ctx, id, f, int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != "stored" || m.Kind != "video" {
		t.Fatalf("got %+v, want a stored video", m)
	}
	if f.part1 != 0 {
		t.Fatalf("read %d bytes of part 1 again, want none (the store held it)", f.part1)
	}
	if f.starts[r.PartSize] < 3 {
		t.Fatalf("part 2 was read %d times, want its CRC32C pass, the corrupted upload and the one sent again", f.starts[r.PartSize])
	}
}
