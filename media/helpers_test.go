package media_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/devstack/devtest"
	"fieldsync/media"
	"fieldsync/mongodb"

	"github.com/google/uuid"
)

func TestMain(m *testing.M) { devtest.Main(m) }

// env is one test's media service over a fresh database and bucket.
type env struct {
	svc     *media.Service
	store   *mongodb.MediaStore
	objects *media.ObjectStore
	cites   *devtest.Citations
	db      *mongodb.Store
}

func newEnv(tb testing.TB, opts media.Options) *env {
	tb.Helper()
	db := devtest.MustOpenStore(tb)
	e := &env{store: mongodb.NewMediaStore(db), objects: devtest.MustOpenObjects(tb), cites: &devtest.Citations{}, db: db}
	e.svc = media.NewService(e.store, e.objects, e.cites, opts)
	tb.Cleanup(e.svc.Wait)
	return e
}

// Callers of the tests: tenant t1 with sites s1 and s2, and another tenant.
var (
	guardA  = &fieldsync.Caller{UserID: "u-guard-a", TenantID: "t1", DeviceID: "d1", Role: fieldsync.RoleGuard, SiteIDs: []string{"s1"}}
	guardB  = &fieldsync.Caller{UserID: "u-guard-b", TenantID: "t1", DeviceID: "d2", Role: fieldsync.RoleGuard, SiteIDs: []string{"s2"}}
	agentA  = &fieldsync.Caller{UserID: "u-agent-a", TenantID: "t1", DeviceID: "d3", Role: fieldsync.RoleCSAgent, SiteIDs: []string{"s1"}}
	agentB  = &fieldsync.Caller{UserID: "u-agent-b", TenantID: "t1", DeviceID: "d4", Role: fieldsync.RoleCSAgent, SiteIDs: []string{"s2"}}
	foreign = &fieldsync.Caller{UserID: "u-guard-a", TenantID: "t2", DeviceID: "d5", Role: fieldsync.RoleAdmin}
)

func as(c *fieldsync.Caller) context.Context {
	return fieldsync.NewContextWithCaller(context.Background(), c)
}

func inspection(site, createdBy string) fieldsync.RecordRef {
	return fieldsync.RecordRef{Collection: fieldsync.CollInspections, ID: uuid.NewString(), TenantID: "t1",
		SiteID: site, CreatedBy: createdBy, CreatedAt: time.Now()}
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func request(ct string, b []byte) media.CreateRequest {
	return media.CreateRequest{ID: uuid.NewString(), ContentType: ct, Size: int64(len(b)), SHA256: sum(b)}
}

// gradient is a w×h test picture.
func gradient(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x + y), 255})
		}
	}
	return img
}

func pngBytes(tb testing.TB, w, h int) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, gradient(w, h)); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// jpegBytes encodes a w×h JPEG, with an APP1 EXIF segment when exif is not nil.
func jpegBytes(tb testing.TB, w, h int, exif []byte) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, gradient(w, h), &jpeg.Options{Quality: 90}); err != nil {
		tb.Fatal(err)
	}
	out := b.Bytes()
	if exif == nil {
		return out
	}
	seg := append([]byte("Exif\x00\x00"), exif...)
	app1 := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(app1[2:], uint16(len(seg)+2))
	return append(append(append([]byte{0xFF, 0xD8}, app1...), seg...), out[2:]...)
}

// tiffEXIF builds a little-endian TIFF EXIF block with a capture time,
// its zone, a GPS position (north-east, in whole seconds) and an orientation.
func tiffEXIF(taken, offset string, latDMS, lonDMS [3]uint32, orientation uint16) []byte {
	le := binary.LittleEndian
	var b []byte
	u16 := func(v uint16) { b = le.AppendUint16(b, v) }
	u32 := func(v uint32) { b = le.AppendUint32(b, v) }
	entry := func(tag, typ uint16, count, value uint32) { u16(tag); u16(typ); u32(count); u32(value) }
	// Layout: header(8) | IFD0 @8: 3 entries (2+36+4=42) | Exif IFD @50: 2 entries (30)
	// | GPS IFD @80: 4 entries (54) | data @134.
	const ifd0, exifIFD, gpsIFD, data = 8, 50, 80, 134
	dtOff, offOff := uint32(data), uint32(data+20)
	latOff, lonOff := uint32(data+28), uint32(data+52)
	b = append(b, "II*\x00"...)
	u32(ifd0)
	u16(3)
	entry(0x0112, 3, 1, uint32(orientation))
	entry(0x8769, 4, 1, exifIFD)
	entry(0x8825, 4, 1, gpsIFD)
	u32(0)
	u16(2)
	entry(0x9003, 2, 20, dtOff)
	entry(0x9011, 2, 7, offOff)
	u32(0)
	u16(4)
	entry(0x0001, 2, 2, uint32('N'))
	entry(0x0002, 5, 3, latOff)
	entry(0x0003, 2, 2, uint32('E'))
	entry(0x0004, 5, 3, lonOff)
	u32(0)
	b = append(b, (taken + "\x00")[:20]...)
	b = append(b, (offset + "\x00")[:7]...)
	b = append(b, 0)
	for _, v := range latDMS {
		u32(v)
		u32(1)
	}
	for _, v := range lonDMS {
		u32(v)
		u32(1)
	}
	return b
}

// putPresigned sends body to a presigned upload as a phone would.
func putPresigned(tb testing.TB, up *media.Upload, body []byte, header map[string]string) int {
	tb.Helper()
	req, err := http.NewRequest(up.Method, up.URL, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range up.Headers {
		if !strings.EqualFold(k, "Content-Length") {
			req.Header.Set(k, v)
		}
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// download GETs url and returns the body and response.
func download(tb testing.TB, url string) ([]byte, *http.Response) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return b, resp
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := fieldsync.ErrorCode(err); got != code {
		tb.Fatalf("got error %v (code %q), want code %q", err, got, code)
	}
}

func mustCreate(tb testing.TB, e *env, c *fieldsync.Caller, req media.CreateRequest) (*fieldsync.Media, *media.Upload) {
	tb.Helper()
	m, up, err := e.svc.Create(as(c), req)
	if err != nil {
		tb.Fatal(err)
	}
	return m, up
}

// mustStore announces body, uploads it presigned and completes it.
func mustStore(tb testing.TB, e *env, c *fieldsync.Caller, ct string, body []byte) *fieldsync.Media {
	tb.Helper()
	req := request(ct, body)
	_, up := mustCreate(tb, e, c, req)
	if st := putPresigned(tb, up, body, nil); st != http.StatusOK {
		tb.Fatalf("presigned PUT: got status %d, want 200", st)
	}
	m, err := e.svc.Complete(as(c), req.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// mustAnnounce announces body as guardA's PNG on svc and returns its id.
func mustAnnounce(tb testing.TB, svc *media.Service, body []byte) string {
	tb.Helper()
	req := request(media.TypePNG, body)
	if _, _, err := svc.Create(as(guardA), req); err != nil {
		tb.Fatal(err)
	}
	return req.ID
}

// heicBytes is a minimal well-formed HEIC file: a file type box, a meta box
// with a picture handler, and mdat holding data.
func heicBytes(data []byte) []byte {
	box := func(typ string, body ...[]byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, 0)
		b = append(b, typ...)
		for _, p := range body {
			b = append(b, p...)
		}
		binary.BigEndian.PutUint32(b, uint32(len(b)))
		return b
	}
	hdlr := box("hdlr", make([]byte, 8), []byte("pict"), make([]byte, 12), []byte{0})
	out := box("ftyp", []byte("heic\x00\x00\x00\x00mif1heic"))
	out = append(out, box("meta", make([]byte, 4), hdlr)...)
	return append(out, box("mdat", data)...)
}
