package media_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"fieldsync"
	"fieldsync/media"
)

// samples are real files of each new kind (testdata/, made with ffmpeg; the
// AMR one is 50 frames of the 12.2 kbit/s mode that ffmpeg decodes; the PDF
// one page with a text line).
var samples = []struct {
	file, contentType, kind string
}{
	{"sample.mp4", media.TypeMP4, fieldsync.KindVideo},
	{"sample.mov", media.TypeMOV, fieldsync.KindVideo},
	{"sample.m4a", media.TypeM4A, fieldsync.KindAudio},
	{"sample.amr", media.TypeAMR, fieldsync.KindAudio},
	{"sample.opus", media.TypeOgg, fieldsync.KindAudio},
	{"sample.pdf", media.TypePDF, fieldsync.KindDocument},
}

// testdata is absolute: the embedded object store changes the working directory.
var testdata, _ = filepath.Abs("testdata")

func readSample(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestKindsFromRealSamples: each new kind is accepted from real bytes, gets
// its kind and no thumbnail; a signature is a PNG and gets one.
func TestKindsFromRealSamples(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{})
	for _, s := range samples {
		body := readSample(t, s.file)
		if got := media.Sniff(body); got != s.contentType {
			t.Errorf("%s: sniffed %q, want %q", s.file, got, s.contentType)
		}
		m := mustStore(t, e, guardA, s.contentType, body)
		if m.Status != fieldsync.MediaStored || m.Kind != s.kind || m.Thumb != fieldsync.ThumbNone {
			t.Errorf("%s: got status %q kind %q thumb %q, want stored %s without thumbnail", s.file, m.Status, m.Kind, m.Thumb, s.kind)
		}
	}
	sig := pngBytes(t, 300, 120)
	req := request(media.TypePNG, sig)
	req.Kind = fieldsync.KindSignature
	_, up := mustCreate(t, e, guardA, req)
	if st := putPresigned(t, up, sig, nil); st != http.StatusOK {
		t.Fatalf("signature PUT: %d", st)
	}
	m, err := e.svc.Complete(as(guardA), req.ID)
	if err != nil || m.Kind != fieldsync.KindSignature || m.Thumb != fieldsync.ThumbDone {
		t.Fatalf("signature: got %+v, %v; want a stored signature with a thumbnail", m, err)
	}
}

// TestRenamedFilesAreRefused: each sample declared as another kind's type,
// and a sample's header followed by other bytes, are refused 422 naming
// content_type.
func TestRenamedFilesAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{})
	for i, s := range samples {
		body := readSample(t, s.file)
		other := samples[(i+2)%len(samples)].contentType
		req := request(other, body)
		_, up := mustCreate(t, e, guardA, req)
		putPresigned(t, up, body, nil)
		_, err := e.svc.Complete(as(guardA), req.ID)
		if fieldsync.ErrorCode(err) != fieldsync.EUnprocessable || fieldsync.ErrorField(err) != "content_type" {
			t.Errorf("%s declared %s: got %v, want unprocessable naming content_type", s.file, other, err)
		}
		// The sample's first 64 bytes followed by HTML.
		fake := append(append([]byte{}, body[:64]...), []byte("<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>")...)
		req = request(s.contentType, fake)
		_, up = mustCreate(t, e, guardA, req)
		putPresigned(t, up, fake, nil)
		_, err = e.svc.Complete(as(guardA), req.ID)
		if fieldsync.ErrorCode(err) != fieldsync.EUnprocessable || fieldsync.ErrorField(err) != "content_type" {
			t.Errorf("%s header + HTML: got %v, want unprocessable naming content_type", s.file, err)
		}
	}
	// A JPEG declared a signature, a PDF declared a photo: refused at once.
	req := request(media.TypeJPEG, jpegBytes(t, 8, 8, nil))
	req.Kind = fieldsync.KindSignature
	if _, _, err := e.svc.Create(as(guardA), req); fieldsync.ErrorField(err) != "content_type" {
		t.Errorf("JPEG signature: got %v, want invalid naming content_type", err)
	}
	req = request(media.TypePDF, readSample(t, "sample.pdf"))
	req.Kind = fieldsync.KindPhoto
	if _, _, err := e.svc.Create(as(guardA), req); fieldsync.ErrorField(err) != "content_type" {
		t.Errorf("PDF photo: got %v, want invalid naming content_type", err)
	}
}

// TestLimitsPerKind: each kind has its own limit, configurable.
func TestLimitsPerKind(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{MaxBytes: 1 << 20, MaxBytesByKind: map[string]int64{fieldsync.KindVideo: 3 << 20}})
	for _, c := range []struct {
		ct, kind string
		size     int64
		ok       bool
	}{
		{media.TypeJPEG, "", 1 << 20, true},
		{media.TypeJPEG, "", 1<<20 + 1, false},
		{media.TypeMP4, "", 3 << 20, true},
		{media.TypeMP4, "", 3<<20 + 1, false},
		{media.TypePNG, fieldsync.KindSignature, media.DefaultMaxBytesSignature + 1, false},
		{media.TypePDF, "", media.DefaultMaxBytesDocument, true},
	} {
		req := request(c.ct, []byte("x"))
		req.Size, req.Kind = c.size, c.kind
		_, _, err := e.svc.Create(as(guardA), req)
		if ok := err == nil; ok != c.ok || (!ok && fieldsync.ErrorCode(err) != fieldsync.EPayloadTooLarge) {
			t.Errorf("%s %s of %d bytes: got %v, want accepted=%v (payload_too_large otherwise)", c.ct, c.kind, c.size, err, c.ok)
		}
	}
	if got := e.svc.MaxBytes(); got != media.DefaultMaxBytesAudio { // the largest: audio and documents, 20 MiB
		t.Errorf("got MaxBytes %d, want the largest limit %d", got, media.DefaultMaxBytesAudio)
	}
}
