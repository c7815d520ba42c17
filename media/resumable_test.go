package media_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/media"

	"github.com/minio/minio-go/v7"
)

// movieBytes is a structurally valid MP4 of about n bytes: ftyp, moov with a
// video track's handler, and mdat holding pseudo-random data (incompressible, like real video).
func movieBytes(n int, seed uint64) []byte {
	box := func(typ string, body []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
		return append(append(b, typ...), body...)
	}
	data := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := 0; i+8 <= len(data); i += 8 {
		binary.LittleEndian.PutUint64(data[i:], r.Uint64())
	}
	out := box("ftyp", []byte("isom\x00\x00\x02\x00isomiso2avc1mp41"))
	hdlr := box("hdlr", append(make([]byte, 8), "vide\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"...))
	out = append(out, box("moov", box("trak", box("mdia", hdlr)))...)
	return append(out, box("mdat", data)...)
}

func partMD5(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

func partCRC32C(b []byte) string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))))
}

// partOf is part n (1-based) of body cut in parts of size.
func partOf(body []byte, size int64, n int) []byte {
	lo := int64(n-1) * size
	return body[lo:min(lo+size, int64(len(body)))]
}

// putPart sends one part to its presigned URL as a phone would.
func putPart(tb testing.TB, u media.PartUpload, body []byte) int {
	tb.Helper()
	return putPresigned(tb, &media.Upload{Method: http.MethodPut, URL: u.URL, Headers: u.Headers}, body, nil)
}

// tryPutPart is putPart that answers 0 when the connection fails.
func tryPutPart(u media.PartUpload, body []byte) int {
	req, err := http.NewRequest(http.MethodPut, u.URL, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	for k, v := range u.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// newSweptEnv is an env on a settable clock whose sweep removes what is 48 hours old.
func newSweptEnv(tb testing.TB) (*env, *clock) {
	clk := &clock{t: time.Now()}
	return newEnv(tb, media.Options{CleanupAge: 48 * time.Hour, CleanupInterval: time.Minute, Now: clk.Now}), clk
}

// mustStartResumable announces body as guardA's video and starts its resumable upload.
func mustStartResumable(tb testing.TB, e *env, body []byte) (media.CreateRequest, *media.Resumable) {
	tb.Helper()
	req := request(media.TypeMP4, body)
	mustCreate(tb, e, guardA, req)
	r, err := e.svc.StartResumable(as(guardA), req.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return req, r
}

// mustPartURL signs part n with its CRC32C.
func mustPartURL(tb testing.TB, svc *media.Service, c *fieldsync.Caller, id string, n int, part []byte) media.PartUpload {
	tb.Helper()
	return mustPartURLFor(tb, svc, c, id, media.PartRequest{Number: n, CRC32C: partCRC32C(part)})
}

func mustPartURLFor(tb testing.TB, svc *media.Service, c *fieldsync.Caller, id string, r media.PartRequest) media.PartUpload {
	tb.Helper()
	ups, _, err := svc.PresignParts(as(c), id, []media.PartRequest{r})
	if err != nil {
		tb.Fatal(err)
	}
	return ups[0]
}

// TestResumableUploadSurvivesRestartAndCorruptPart: a video in three parts;
// a corrupted part is refused by the store and sent again; the app restarts
// (a new service over the same stores) and resumes from the parts the store
// holds; completion verifies the assembled object and is idempotent; the
// part URLs cannot write anything once it is assembled.
func TestResumableUploadSurvivesRestartAndCorruptPart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{})
	body := movieBytes(12<<20, 1) // 3 parts of 5 MiB
	req := request(media.TypeMP4, body)
	mustCreate(t, e, guardA, req)

	r, err := e.svc.StartResumable(as(guardA), req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.PartSize != media.MinPartSize || r.PartCount != 3 || len(r.Parts) != 0 || r.UploadID == "" {
		t.Fatalf("got %+v, want 3 parts of 5 MiB, none stored", r)
	}
	if r.Media.Kind != fieldsync.KindVideo {
		t.Fatalf("got kind %q, want video", r.Media.Kind)
	}
	p1, p2, p3 := partOf(body, r.PartSize, 1), partOf(body, r.PartSize, 2), partOf(body, r.PartSize, 3)
	if st := putPart(t, mustPartURL(t, e.svc, guardA, req.ID, 1, p1), p1); st != http.StatusOK {
		t.Fatalf("part 1: got %d, want 200", st)
	}
	u2 := mustPartURL(t, e.svc, guardA, req.ID, 2, p2)
	bad := bytes.Clone(p2)
	bad[len(bad)/2] ^= 0xFF
	if st := putPart(t, u2, bad); st != http.StatusBadRequest {
		t.Fatalf("corrupted part 2 (CRC32C): got %d, want 400 (BadDigest)", st)
	}
	byMD5 := mustPartURLFor(t, e.svc, guardA, req.ID, media.PartRequest{Number: 2, MD5: partMD5(p2)})
	if byMD5.Headers["Content-MD5"] == "" || byMD5.Headers["X-Amz-Checksum-Crc32c"] != "" {
		t.Fatalf("part URL signed for the MD5: headers %v", byMD5.Headers)
	}
	if st := putPart(t, byMD5, bad); st != http.StatusBadRequest {
		t.Fatalf("corrupted part 2 (MD5): got %d, want 400 (BadDigest)", st)
	}
	if _, err := e.svc.Complete(as(guardA), req.ID); fieldsync.ErrorCode(err) != fieldsync.ENotUploaded || fieldsync.ErrorField(err) != "parts" {
		t.Fatalf("complete with parts missing: got %v, want not_uploaded naming parts", err)
	}
	if st := putPart(t, u2, p2); st != http.StatusOK {
		t.Fatalf("part 2 sent again: got %d, want 200", st)
	}

	// The app restarts: another service instance, the same stores.
	svc2 := media.NewService(e.store, e.objects, e.cites, media.Options{})
	r2, err := svc2.StartResumable(as(guardA), req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r2.UploadID != r.UploadID || len(r2.Parts) != 2 || r2.Parts[0].Number != 1 || r2.Parts[1].Number != 2 {
		t.Fatalf("resumed: got %+v, want upload %s with parts 1 and 2", r2, r.UploadID)
	}
	if st := putPart(t, mustPartURL(t, svc2, guardA, req.ID, 3, p3), p3); st != http.StatusOK {
		t.Fatalf("part 3: got %d, want 200", st)
	}
	// The uploader keeps a URL signed for other bytes of part 1, to swap
	// them in once the upload is verified.
	swap := bytes.Repeat([]byte("<html>"), len(p1)/6+1)[:len(p1)]
	evil := mustPartURL(t, svc2, guardA, req.ID, 1, swap)
	m, err := svc2.Complete(as(guardA), req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != fieldsync.MediaStored || m.Thumb != fieldsync.ThumbNone || m.Multipart != nil {
		t.Fatalf("got %+v, want stored, no thumbnail, the upload forgotten", m)
	}
	if strings.HasPrefix(m.Key, "incoming/") || m.Key != r.Media.Multipart.Key {
		t.Fatalf("verified bytes served from %q, want the key the upload assembled at, %q", m.Key, r.Media.Multipart.Key)
	}
	if again, err := e.svc.Complete(as(guardA), req.ID); err != nil || again.Status != fieldsync.MediaStored {
		t.Fatalf("complete again: got %v, %v; want the stored media", again, err)
	}
	v, err := e.svc.Get(as(guardA), req.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, resp := download(t, v.Original)
	if !bytes.Equal(got, body) || resp.Header.Get("Content-Type") != media.TypeMP4 {
		t.Fatalf("downloaded %d bytes as %q, want the %d uploaded as video/mp4", len(got), resp.Header.Get("Content-Type"), len(body))
	}
	// A part URL still valid writes nothing once the upload is assembled
	// (the store answers NoSuchUpload, or cuts the connection before
	// reading): the served bytes stay the verified ones.
	if st := tryPutPart(evil, swap); st == http.StatusOK {
		t.Fatal("a part URL wrote after completion")
	}
	if st := tryPutPart(u2, p2); st == http.StatusOK {
		t.Fatal("a part URL wrote after completion")
	}
	if _, err := svc2.Complete(as(guardA), req.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := download(t, v.Original); !bytes.Equal(got, body) {
		t.Fatal("the served object changed after completion")
	}
}

// TestResumableCompleteRefusesWrongBytes: parts that assemble to other bytes
// than declared are refused 422, the upload is dropped and a new one starts.
func TestResumableCompleteRefusesWrongBytes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{})
	body := movieBytes(6<<20, 2)
	req, r := mustStartResumable(t, e, body)
	other := movieBytes(6<<20, 3) // same size, other bytes
	for n := 1; n <= r.PartCount; n++ {
		p := partOf(other, r.PartSize, n)
		if st := putPart(t, mustPartURL(t, e.svc, guardA, req.ID, n, p), p); st != http.StatusOK {
			t.Fatalf("part %d: got %d", n, st)
		}
	}
	_, err := e.svc.Complete(as(guardA), req.ID)
	if fieldsync.ErrorCode(err) != fieldsync.EUnprocessable || fieldsync.ErrorField(err) != "sha256" {
		t.Fatalf("got %v, want unprocessable naming sha256", err)
	}
	if objectExists(t, e, r.Media.Multipart.Key) {
		t.Fatal("refused assembled object kept")
	}
	r2, err := e.svc.StartResumable(as(guardA), req.ID)
	if err != nil || r2.UploadID == r.UploadID || len(r2.Parts) != 0 {
		t.Fatalf("after refusal: got %+v, %v; want a new empty upload", r2, err)
	}
}

// TestResumableValidatesPartRequests: numbers out of range, bad checksums
// and none at all are refused naming the field; no upload under way is a
// conflict.
func TestResumableValidatesPartRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{})
	body := movieBytes(1<<20, 4)
	req := request(media.TypeMP4, body)
	mustCreate(t, e, guardA, req)
	md5 := partMD5(body)
	if _, _, err := e.svc.PresignParts(as(guardA), req.ID, []media.PartRequest{{Number: 1, MD5: md5}}); fieldsync.ErrorCode(err) != fieldsync.EConflict {
		t.Fatalf("before start: got %v, want conflict", err)
	}
	if _, err := e.svc.StartResumable(as(guardA), req.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		parts []media.PartRequest
		field string
	}{
		{[]media.PartRequest{{Number: 2, MD5: md5}}, "parts[0].number"},
		{[]media.PartRequest{{Number: 1, MD5: md5}, {Number: 0, MD5: md5}}, "parts[1].number"},
		{[]media.PartRequest{{Number: 1, MD5: "abc"}}, "parts[0].md5"},
		{[]media.PartRequest{{Number: 1, CRC32C: md5}}, "parts[0].crc32c"},
		{[]media.PartRequest{{Number: 1, CRC32C: partCRC32C(body), MD5: "abc"}}, "parts[0].md5"},
		{[]media.PartRequest{{Number: 1}}, "parts[0].md5"},
		{nil, "parts"},
	} {
		_, _, err := e.svc.PresignParts(as(guardA), req.ID, c.parts)
		if fieldsync.ErrorCode(err) != fieldsync.EInvalid || fieldsync.ErrorField(err) != c.field {
			t.Errorf("%+v: got %v (field %q), want invalid_input naming %s", c.parts, err, fieldsync.ErrorField(err), c.field)
		}
	}
	if _, err := e.svc.StartResumable(as(guardB), req.ID); fieldsync.ErrorCode(err) != fieldsync.ENotFound {
		t.Fatalf("another user: got %v, want not_found", err)
	}
}

// TestSweepAbortsAbandonedMultipartUploads: a resumable upload left with
// half its parts is aborted with its media by the sweep, and so is an
// upload no media knows of (a start that crashed before recording it).
func TestSweepAbortsAbandonedMultipartUploads(t *testing.T) {
	t.Parallel()
	e, clk := newSweptEnv(t)
	body := movieBytes(7<<20, 5)
	req, r := mustStartResumable(t, e, body)
	p1 := partOf(body, r.PartSize, 1)
	if st := putPart(t, mustPartURL(t, e.svc, guardA, req.ID, 1, p1), p1); st != http.StatusOK {
		t.Fatalf("part 1: got %d", st)
	}
	core := minio.Core{Client: e.objects.Client}
	ctx := context.Background()
	// Orphans of starts that crashed: under multipart/, and under incoming/
	// where uploads were started before.
	for _, key := range []string{"multipart/t1/s1/orphan.1", "incoming/t1/s1/orphan.mp-1"} {
		if _, err := core.NewMultipartUpload(ctx, e.objects.Bucket, key, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := uploadsUnderway(t, core, e.objects.Bucket); n != 3 {
		t.Fatalf("got %d uploads under way, want 3", n)
	}

	clk.Add(72 * time.Hour)
	rep, err := e.svc.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.PendingRemoved != 1 || rep.UploadsAborted != 2 {
		t.Fatalf("got %+v, want the pending media removed and both orphan uploads aborted", rep)
	}
	if n := uploadsUnderway(t, core, e.objects.Bucket); n != 0 {
		t.Fatalf("got %d uploads under way after the sweep, want 0", n)
	}
	if _, err := core.ListObjectParts(ctx, e.objects.Bucket, r.Media.Multipart.Key, r.UploadID, 0, 100); media.MapError(err) == nil {
		t.Fatal("the abandoned upload still lists its parts")
	}
}

func uploadsUnderway(tb testing.TB, core minio.Core, bucket string) int {
	tb.Helper()
	res, err := core.ListMultipartUploads(context.Background(), bucket, "", "", "", "", 1000)
	if err != nil {
		tb.Fatal(err)
	}
	return len(res.Uploads)
}

// TestAssembledBytesServedOnlyOnceVerified: parts assembled by a complete
// that was cut off right after the assembly are not served (the media stays
// pending, its key elsewhere, no download URL); the next complete verifies
// them and serves them where they were assembled; the sweep removes them
// with the media once no record cites it.
func TestAssembledBytesServedOnlyOnceVerified(t *testing.T) {
	t.Parallel()
	e, clk := newSweptEnv(t)
	body := movieBytes(6<<20, 6)
	req, r := mustStartResumable(t, e, body)
	var parts []minio.CompletePart
	for n := 1; n <= r.PartCount; n++ {
		p := partOf(body, r.PartSize, n)
		if st := putPart(t, mustPartURL(t, e.svc, guardA, req.ID, n, p), p); st != http.StatusOK {
			t.Fatalf("part %d: got %d", n, st)
		}
	}
	core := minio.Core{Client: e.objects.Client}
	ctx := context.Background()
	listed, err := core.ListObjectParts(ctx, e.objects.Bucket, r.Media.Multipart.Key, r.UploadID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range listed.ObjectParts {
		parts = append(parts, minio.CompletePart{PartNumber: p.PartNumber, ETag: p.ETag, ChecksumCRC32C: p.ChecksumCRC32C})
	}
	// The complete that assembled them ends here (the process dies).
	if _, err := core.CompleteMultipartUpload(ctx, e.objects.Bucket, r.Media.Multipart.Key, r.UploadID, parts, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := e.svc.StartResumable(as(guardA), req.ID)
	if err != nil || !st.Assembled {
		t.Fatalf("got %+v, %v; want the upload reported assembled", st, err)
	}
	v, err := e.svc.Get(as(guardA), req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.Media.Status != fieldsync.MediaPending || v.Original != "" || v.Media.Key == r.Media.Multipart.Key {
		t.Fatalf("assembled, unverified: got status %s, key %q, URL %q; want pending, not served", v.Media.Status, v.Media.Key, v.Original)
	}
	m, err := e.svc.Complete(as(guardA), req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != fieldsync.MediaStored || m.Key != r.Media.Multipart.Key {
		t.Fatalf("got %s at %q, want stored at %q", m.Status, m.Key, r.Media.Multipart.Key)
	}
	clk.Add(72 * time.Hour)
	rep, err := e.svc.Sweep(ctx)
	if err != nil || rep.UncitedRemoved != 1 {
		t.Fatalf("got %+v, %v; want the uncited video removed", rep, err)
	}
	if objectExists(t, e, m.Key) {
		t.Fatal("the swept video's bytes are still stored")
	}
}
