package media_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image/jpeg"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/media"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
)

func TestPresignedUploadCompleteDownload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{})
	exif := tiffEXIF("2026:11:20 14:30:05", "+08:00", [3]uint32{31, 14, 24}, [3]uint32{121, 28, 12}, 6)
	body := jpegBytes(t, 640, 400, exif)
	req := request(media.TypeJPEG, body)
	m, up := mustCreate(t, e, guardA, req)
	if m.Status != fieldsync.MediaPending || up == nil {
		t.Fatalf("got status %q upload %v, want pending with an upload", m.Status, up)
	}
	if !strings.HasPrefix(m.Key, "t1/s1/") || !strings.HasSuffix(m.Key, "/"+req.ID) {
		t.Fatalf("got key %q, want t1/s1/yyyy/mm/%s", m.Key, req.ID)
	}
	if got := up.Headers["Content-Type"]; got != media.TypeJPEG {
		t.Fatalf("got upload Content-Type header %q", got)
	}
	if st := putPresigned(t, up, body, nil); st != http.StatusOK {
		t.Fatalf("presigned PUT: got %d, want 200", st)
	}
	m, err := e.svc.Complete(as(guardA), req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != fieldsync.MediaStored || m.Width != 640 || m.Height != 400 {
		t.Fatalf("got %+v, want stored 640×400", m)
	}
	if m.TakenAt == nil || !m.TakenAt.Equal(time.Date(2026, 11, 20, 6, 30, 5, 0, time.UTC)) {
		t.Fatalf("got taken_at %v, want 2026-11-20T14:30:05+08:00", m.TakenAt)
	}
	wantLat, wantLon := 31+14/60.0+24/3600.0, 121+28/60.0+12/3600.0
	if m.GPS == nil || math.Abs(m.GPS.Lat-wantLat) > 1e-9 || math.Abs(m.GPS.Lon-wantLon) > 1e-9 {
		t.Fatalf("got gps %+v, want %v,%v", m.GPS, wantLat, wantLon)
	}

	e.svc.Wait()
	v, err := e.svc.Get(as(guardA), req.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, resp := download(t, v.Original)
	if !bytes.Equal(got, body) {
		t.Fatalf("downloaded %d bytes differ from the %d uploaded", len(got), len(body))
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		t.Fatalf("original served with Content-Encoding %q", ce)
	}
	if ct := resp.Header.Get("Content-Type"); ct != media.TypeJPEG {
		t.Fatalf("original served as %q", ct)
	}
	if v.Thumbnail == "" {
		t.Fatalf("no thumbnail after Wait: %+v", v.Media)
	}
	thumb, resp := download(t, v.Thumbnail)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("thumbnail: status %d, Content-Encoding %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(thumb))
	if err != nil {
		t.Fatal(err)
	}
	// Orientation 6 turns the 640×400 picture upright: 200×320.
	if cfg.Width != 200 || cfg.Height != 320 {
		t.Fatalf("got thumbnail %d×%d, want 200×320", cfg.Width, cfg.Height)
	}
	if bytes.Contains(thumb, []byte("Exif")) {
		t.Fatal("thumbnail carries an EXIF block (location)")
	}
}

func TestCreateIsIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{})
	body := pngBytes(t, 8, 8)
	req := request(media.TypePNG, body)
	m1, up1 := mustCreate(t, e, guardA, req)
	m2, up2 := mustCreate(t, e, guardA, req)
	if m1.Key != m2.Key || m2.Status != fieldsync.MediaPending || up1 == nil || up2 == nil {
		t.Fatalf("second create: got %+v, want the same pending media with an upload", m2)
	}
	other := req
	other.SHA256 = strings.Repeat("0", 64)
	_, _, err := e.svc.Create(as(guardA), other)
	wantCode(t, err, fieldsync.EConflict)
	_, _, err = e.svc.Create(as(agentA), req)
	wantCode(t, err, fieldsync.EConflict)

	if st := putPresigned(t, up2, body, nil); st != 200 {
		t.Fatalf("PUT: %d", st)
	}
	for i := range 2 {
		m, err := e.svc.Complete(as(guardA), req.ID)
		if err != nil || m.Status != fieldsync.MediaStored {
			t.Fatalf("complete #%d: got %+v, %v; want stored", i+1, m, err)
		}
	}
	m3, up3 := mustCreate(t, e, guardA, req)
	if m3.Status != fieldsync.MediaStored || up3 != nil {
		t.Fatalf("create after store: got status %q upload %v, want stored and no upload", m3.Status, up3)
	}
	// The same id in another tenant is another media.
	if _, _, err := e.svc.Create(as(foreign), req); err != nil {
		t.Fatal(err)
	}
}

func TestCreateValidates(t *testing.T) {
	t.Parallel()
	// The registry (field.Registry in cmd/): uploads may name inspections, not units.
	e := newEnv(t, media.Options{MaxBytes: 1000, Collections: []fieldsync.SyncedCollection{
		{Name: fieldsync.CollInspections, Evidence: true}, {Name: fieldsync.CollUnits}}})
	good := media.CreateRequest{ID: uuid.NewString(), ContentType: media.TypeJPEG, Size: 10, SHA256: strings.Repeat("a", 64)}
	for _, tc := range []struct {
		name, field, code string
		mut               func(r *media.CreateRequest)
	}{
		{"id", "id", fieldsync.EInvalid, func(r *media.CreateRequest) { r.ID = "../../etc" }},
		{"type", "content_type", fieldsync.EInvalid, func(r *media.CreateRequest) { r.ContentType = "text/plain" }},
		{"size", "size", fieldsync.EInvalid, func(r *media.CreateRequest) { r.Size = 0 }},
		{"too large", "size", fieldsync.EPayloadTooLarge, func(r *media.CreateRequest) { r.Size = 1001 }},
		{"upper-case hash", "sha256", fieldsync.EInvalid, func(r *media.CreateRequest) { r.SHA256 = strings.Repeat("A", 64) }},
		{"record collection", "record.collection", fieldsync.EInvalid, func(r *media.CreateRequest) {
			r.Record = &fieldsync.RecordID{Collection: "users", ID: uuid.NewString()}
		}},
		{"record holds no evidence", "record.collection", fieldsync.EInvalid, func(r *media.CreateRequest) {
			r.Record = &fieldsync.RecordID{Collection: fieldsync.CollUnits, ID: uuid.NewString()}
		}},
	} {
		r := good
		tc.mut(&r)
		_, _, err := e.svc.Create(as(guardA), r)
		if fieldsync.ErrorCode(err) != tc.code || fieldsync.ErrorField(err) != tc.field {
			t.Errorf("%s: got %v, want %s naming %s", tc.name, err, tc.code, tc.field)
		}
	}
	_, _, err := e.svc.Create(context.Background(), good)
	wantCode(t, err, fieldsync.EUnauthorized)
	good.Record = &fieldsync.RecordID{Collection: fieldsync.CollInspections, ID: uuid.NewString()}
	if _, _, err := e.svc.Create(as(guardA), good); err != nil {
		t.Fatalf("an upload naming an inspection: %v", err)
	}
}

func TestCompleteBeforeUploadIsNotUploaded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{})
	req := request(media.TypePNG, pngBytes(t, 4, 4))
	mustCreate(t, e, guardA, req)
	_, err := e.svc.Complete(as(guardA), req.ID)
	wantCode(t, err, fieldsync.ENotUploaded)
	_, err = e.svc.Complete(as(agentA), req.ID)
	wantCode(t, err, fieldsync.ENotFound)
	_, err = e.svc.Complete(as(guardA), uuid.NewString())
	wantCode(t, err, fieldsync.ENotFound)
}

// assertRefused checks a refused object is gone and its media still pending.
func assertRefused(t *testing.T, e *env, id string, err error, field string) {
	t.Helper()
	if fieldsync.ErrorCode(err) != fieldsync.EUnprocessable || fieldsync.ErrorField(err) != field {
		t.Fatalf("got %v, want unprocessable naming %s", err, field)
	}
	m, gerr := e.store.GetMedia(context.Background(), "t1", id)
	if gerr != nil || m.Status != fieldsync.MediaPending {
		t.Fatalf("after refusal: got %+v, %v; want pending", m, gerr)
	}
	if objectExists(t, e, m.Key) {
		t.Fatal("refused object still stored")
	}
}

// TestCompleteRefusesMismatches: a wrong hash, a text file declared as JPEG,
// a PNG declared as JPEG — each 422 naming the field, the object removed, the
// media still pending for a new upload.
func TestCompleteRefusesMismatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{})
	png := pngBytes(t, 16, 16)
	text := []byte(strings.Repeat("not a photo, just text\n", 40))
	for _, tc := range []struct {
		name, ct, field string
		body            []byte
		declaredSHA     string
	}{
		{"wrong hash", media.TypePNG, "sha256", png, sum([]byte("something else"))},
		{"text declared as JPEG", media.TypeJPEG, "content_type", text, ""},
		{"PNG declared as JPEG", media.TypeJPEG, "content_type", png, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request(tc.ct, tc.body)
			if tc.declaredSHA != "" {
				req.SHA256 = tc.declaredSHA
			}
			_, up := mustCreate(t, e, guardA, req)
			if st := putPresigned(t, up, tc.body, nil); st != 200 {
				t.Fatalf("PUT: %d", st)
			}
			_, err := e.svc.Complete(as(guardA), req.ID)
			assertRefused(t, e, req.ID, err, tc.field)
			_, err = e.svc.Complete(as(guardA), req.ID)
			wantCode(t, err, fieldsync.ENotUploaded)
		})
	}
}

func TestCompleteRefusesOversizedObject(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{})
	body := pngBytes(t, 4, 4)
	req := request(media.TypePNG, body)
	m, _ := mustCreate(t, e, guardA, req)
	// Written behind the presigned URL's back: longer than declared.
	long := append(append([]byte{}, body...), 1, 2, 3)
	if _, err := e.objects.Client.PutObject(context.Background(), e.objects.Bucket, m.UploadKey, bytes.NewReader(long), int64(len(long)),
		minio.PutObjectOptions{DisableContentSha256: true, DisableMultipart: true}); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Complete(as(guardA), req.ID)
	assertRefused(t, e, req.ID, err, "size")
}

func TestPresignedUploadRefusesTampering(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{})
	body := pngBytes(t, 8, 8)
	req := request(media.TypePNG, body)
	m, up := mustCreate(t, e, guardA, req)

	u, _ := url.Parse(up.URL)
	otherKey := *u
	otherKey.Path = strings.Replace(u.Path, req.ID, uuid.NewString(), 1)
	longer := *u
	q := u.Query()
	q.Set("X-Amz-Expires", "604800")
	longer.RawQuery = q.Encode()
	badSig := *u
	q = u.Query()
	sig := []byte(q.Get("X-Amz-Signature"))
	sig[0] ^= 1
	q.Set("X-Amz-Signature", string(sig))
	badSig.RawQuery = q.Encode()
	for name, tc := range map[string]struct {
		url    string
		body   []byte
		header map[string]string
	}{
		"other key":          {otherKey.String(), body, nil},
		"longer expiry":      {longer.String(), body, nil},
		"changed signature":  {badSig.String(), body, nil},
		"other content type": {up.URL, body, map[string]string{"Content-Type": "text/html"}},
		"other length":       {up.URL, append(append([]byte{}, body...), 0), nil},
	} {
		st := putPresigned(t, &media.Upload{Method: up.Method, URL: tc.url, Headers: up.Headers}, tc.body, tc.header)
		if st != http.StatusForbidden {
			t.Errorf("%s: got status %d, want 403", name, st)
		}
	}
	if objectExists(t, e, m.Key) {
		t.Fatal("a tampered upload stored an object")
	}
}

func TestGetIsForUploaderAndReadersOfCitingRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{})
	m := mustStore(t, e, guardA, media.TypePNG, pngBytes(t, 8, 8))
	uncited := mustStore(t, e, guardA, media.TypePNG, pngBytes(t, 9, 9))
	e.cites.Cite(m.ID, inspection("s1", guardA.UserID))
	pendingOnly := uuid.NewString() // cited, never announced
	e.cites.Cite(pendingOnly, inspection("s1", guardA.UserID))

	for _, tc := range []struct {
		name   string
		caller *fieldsync.Caller
		id     string
		want   string // status, or "" for not_found
	}{
		{"uploader", guardA, m.ID, fieldsync.MediaStored},
		{"agent of the citing record's site", agentA, m.ID, fieldsync.MediaStored},
		{"agent of another site", agentB, m.ID, ""},
		{"guard of another site", guardB, m.ID, ""},
		{"other tenant with the same user id", foreign, m.ID, ""},
		{"uploader of uncited media", guardA, uncited.ID, fieldsync.MediaStored},
		{"agent, uncited media", agentA, uncited.ID, ""},
		{"agent, cited but not announced", agentA, pendingOnly, fieldsync.MediaPending},
		{"guard of another site, cited but not announced", guardB, pendingOnly, ""},
		{"unknown id", agentA, uuid.NewString(), ""},
		{"not an id", agentA, "x/../y", ""},
	} {
		v, err := e.svc.Get(as(tc.caller), tc.id)
		if tc.want == "" {
			if fieldsync.ErrorCode(err) != fieldsync.ENotFound {
				t.Errorf("%s: got %+v, %v; want not_found", tc.name, v, err)
			}
			continue
		}
		if err != nil || v.Media.Status != tc.want {
			t.Errorf("%s: got %+v, %v; want status %s", tc.name, v, err, tc.want)
			continue
		}
		if (v.Original != "") != (tc.want == fieldsync.MediaStored) {
			t.Errorf("%s: got original URL %q for status %s", tc.name, v.Original, tc.want)
		}
	}
}

func TestStreamedUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{})
	body := jpegBytes(t, 100, 50, nil)
	req := request(media.TypeJPEG, body)
	mustCreate(t, e, guardA, req)

	_, err := e.svc.Upload(as(guardA), req.ID, bytes.NewReader(body), int64(len(body))+1)
	wantCode(t, err, fieldsync.EUnprocessable)
	_, err = e.svc.Upload(as(guardA), req.ID, bytes.NewReader(body[:len(body)-10]), -1)
	assertRefused(t, e, req.ID, err, "size")
	_, err = e.svc.Upload(as(guardA), req.ID, bytes.NewReader(append(append([]byte{}, body...), 'x')), -1)
	assertRefused(t, e, req.ID, err, "size")
	_, err = e.svc.Upload(as(agentA), req.ID, bytes.NewReader(body), int64(len(body)))
	wantCode(t, err, fieldsync.ENotFound)

	m, err := e.svc.Upload(as(guardA), req.ID, bytes.NewReader(body), int64(len(body)))
	if err != nil || m.Status != fieldsync.MediaStored || m.Width != 100 {
		t.Fatalf("got %+v, %v; want stored 100 wide", m, err)
	}
	m, err = e.svc.Upload(as(guardA), req.ID, strings.NewReader("ignored"), 7)
	if err != nil || m.Status != fieldsync.MediaStored {
		t.Fatalf("repeated upload: got %+v, %v; want stored", m, err)
	}
	v, err := e.svc.Get(as(guardA), req.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, resp := download(t, v.Original)
	if !bytes.Equal(got, body) {
		t.Fatal("downloaded bytes differ")
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		t.Fatalf("streamed object served with Content-Encoding %q", ce)
	}
	// What the gateway stored, asked directly: no aws-chunked encoding either.
	info, err := e.objects.Client.StatObject(context.Background(), e.objects.Bucket, m.Key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ce := info.Metadata.Get("Content-Encoding"); ce != "" {
		t.Fatalf("object stored with Content-Encoding %q", ce)
	}
}

func TestStreamedUploadRefusesWrongHash(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{})
	body := pngBytes(t, 10, 10)
	req := request(media.TypePNG, body)
	req.SHA256 = sum(nil)
	mustCreate(t, e, guardA, req)
	_, err := e.svc.Upload(as(guardA), req.ID, bytes.NewReader(body), int64(len(body)))
	assertRefused(t, e, req.ID, err, "sha256")
}

func TestFormats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{})
	heic := heicBytes(bytes.Repeat([]byte{7}, 200))
	for _, tc := range []struct {
		name, ct  string
		body      []byte
		w, h      int
		wantThumb string
	}{
		{"png", media.TypePNG, pngBytes(t, 500, 300), 500, 300, fieldsync.ThumbDone},
		{"webp", media.TypeWebP, webpLossless1x1, 1, 1, fieldsync.ThumbDone},
		{"heic", media.TypeHEIC, heic, 0, 0, fieldsync.ThumbNone},
		{"heic declared heif", media.TypeHEIF, heic, 0, 0, fieldsync.ThumbNone},
	} {
		m := mustStore(t, e, guardA, tc.ct, tc.body)
		e.svc.Wait()
		v, err := e.svc.Get(as(guardA), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v.Media.Width != tc.w || v.Media.Height != tc.h || v.Media.Thumb != tc.wantThumb {
			t.Errorf("%s: got %d×%d thumb %q, want %d×%d thumb %q", tc.name, v.Media.Width, v.Media.Height, v.Media.Thumb, tc.w, tc.h, tc.wantThumb)
		}
		if (v.Thumbnail != "") != (tc.wantThumb == fieldsync.ThumbDone) {
			t.Errorf("%s: thumbnail URL %q with state %q", tc.name, v.Thumbnail, v.Media.Thumb)
		}
	}
}

func TestListMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{})
	stored := mustStore(t, e, guardA, media.TypePNG, pngBytes(t, 5, 5))
	announcedReq := request(media.TypePNG, pngBytes(t, 6, 6))
	mustCreate(t, e, guardA, announcedReq)
	neverSeen := uuid.NewString()
	r1 := inspection("s1", guardA.UserID)
	r2 := inspection("s1", "someone-else")
	r2.CreatedAt = time.Now().Add(-30 * 24 * time.Hour) // beyond a guard's window
	e.cites.Cite(stored.ID, r1)
	e.cites.Cite(announcedReq.ID, r1)
	e.cites.Cite(neverSeen, r2)
	e.cites.Cite(uuid.NewString(), inspection("s2", guardB.UserID))

	got, err := e.svc.ListMissing(as(agentA), "s1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{announcedReq.ID: true, neverSeen: false}
	if len(got) != len(want) {
		t.Fatalf("got %d missing %+v, want %d", len(got), got, len(want))
	}
	for _, m := range got {
		if announced, ok := want[m.MediaID]; !ok || m.Announced != announced || m.Record.SiteID != "s1" {
			t.Errorf("unexpected missing %+v", m)
		}
	}
	// A guard only sees what cites records they may read.
	got, err = e.svc.ListMissing(as(guardA), "s1")
	if err != nil || len(got) != 1 || got[0].MediaID != announcedReq.ID {
		t.Fatalf("guard: got %+v, %v; want only %s", got, err, announcedReq.ID)
	}
	_, err = e.svc.ListMissing(as(agentB), "s1")
	wantCode(t, err, fieldsync.EForbidden)
	_, err = e.svc.ListMissing(as(agentA), "")
	wantCode(t, err, fieldsync.EInvalid)
}

func TestObjectStoreDownIsUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{})
	dead, err := media.OpenObjectStore(media.ObjectStoreOptions{Endpoint: "127.0.0.1:1", AccessKey: "k", SecretKey: "s", Bucket: "evidence"})
	if err != nil {
		t.Fatal(err)
	}
	svc := media.NewService(e.store, dead, e.cites, media.Options{})
	m := mustStore(t, e, guardA, media.TypePNG, pngBytes(t, 3, 3))
	req := request(media.TypePNG, pngBytes(t, 4, 4))
	_, _, err = svc.Create(as(guardA), req)
	assertUnavailable(t, err)
	_, err = svc.Get(as(guardA), m.ID)
	assertUnavailable(t, err)
	// The listing of missing evidence needs only the database.
	if _, err := svc.ListMissing(as(agentA), "s1"); err != nil {
		t.Fatal(err)
	}
}

func assertUnavailable(t *testing.T, err error) {
	t.Helper()
	var fe *fieldsync.Error
	if fieldsync.ErrorCode(err) != fieldsync.EUnavailable || !errors.As(err, &fe) || fe.RetryAfter <= 0 {
		t.Fatalf("got %v, want unavailable with RetryAfter", err)
	}
}

// webpLossless1x1 is a real 1×1 lossless WebP (the Go standard library has no WebP encoder).
var webpLossless1x1, _ = base64.StdEncoding.DecodeString("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
