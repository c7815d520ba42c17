package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/api"
	"fieldsync/media"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
)

type mediaBody struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Width  int    `json:"width"`
	Upload *struct {
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
	} `json:"upload"`
	URLs *struct {
		Original  string `json:"original"`
		Thumbnail string `json:"thumbnail"`
	} `json:"urls"`
}

func testJPEG(tb testing.TB, w, h int) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 3), uint8(y * 5), 90, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func createJSON(id, ct string, body []byte) string {
	return fmt.Sprintf(`{"id":%q,"content_type":%q,"size":%d,"sha256":%q}`, id, ct, len(body), hexSHA256(body))
}

// sendTo does a plain HTTP request outside the API (object store URLs).
func sendTo(tb testing.TB, method, url string, body []byte, headers map[string]string) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range headers {
		if !strings.EqualFold(k, "Content-Length") {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// rawRequest sends a non-JSON body through the app in-process.
func rawRequest(tb testing.TB, srv *api.Server, method, url string, body []byte, headers map[string]string) (*http.Response, []byte) {
	tb.Helper()
	req := httptest.NewRequest(method, url, bytes.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := srv.Test(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestMediaAPI(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	d := depsOf(t, srv)
	mustSeedUsers(t, srv)
	guard := mustLoginSession(t, srv, "guard.a1", "")
	guard2 := mustLoginSession(t, srv, "guard.a2", "")
	guardB := mustLoginSession(t, srv, "guard.b1", "")
	cs := mustLoginSession(t, srv, "cs.a1", "")
	csB := mustLoginSession(t, srv, "cs.b1", "")
	other := mustLoginSession(t, srv, "other/admin", "")

	photo := testJPEG(t, 400, 300)
	id := uuid.NewString()
	var created mediaBody
	mustDo(t, srv, "POST", "/v1/media", createJSON(id, "image/jpeg", photo), guard.Headers(), 201, &created)
	if created.Status != "pending" || created.Upload == nil || created.Upload.Method != "PUT" {
		t.Fatalf("create: got %+v", created)
	}
	// The guard's inspection of site A cites it and a photo not announced yet.
	missingID := uuid.NewString()
	pushInspection(t, srv, guard, id, missingID)

	textID, text := uuid.NewString(), []byte(strings.Repeat("plain text ", 100))
	var textCreated mediaBody
	mustDo(t, srv, "POST", "/v1/media", createJSON(textID, "image/jpeg", text), guard.Headers(), 201, &textCreated)

	hdr := func(s session) map[string]string { return s.Headers() }
	for _, sc := range []scenario{
		{name: "complete before upload", method: "POST", url: "/v1/media/" + id + "/complete", headers: hdr(guard),
			status: 409, contains: []string{`"code":"not_uploaded"`}},
		{name: "no token", method: "POST", url: "/v1/media", body: createJSON(uuid.NewString(), "image/jpeg", photo), status: 401},
		{name: "bad hash", method: "POST", url: "/v1/media", headers: hdr(guard),
			body:   `{"id":"` + uuid.NewString() + `","content_type":"image/jpeg","size":10,"sha256":"ABC"}`,
			status: 400, contains: []string{`"field":"sha256"`}},
		{name: "unknown field", method: "POST", url: "/v1/media", headers: hdr(guard),
			body:   `{"id":"` + uuid.NewString() + `","content_type":"image/jpeg","size":10,"sha256":"` + hexSHA256(nil) + `","key":"x"}`,
			status: 400, contains: []string{`"field":"key"`}},
		{name: "too large", method: "POST", url: "/v1/media", headers: hdr(guard),
			body:   `{"id":"` + uuid.NewString() + `","content_type":"image/jpeg","size":20971521,"sha256":"` + hexSHA256(nil) + `"}`,
			status: 413, contains: []string{`"code":"payload_too_large"`}},
		{name: "same id, other content", method: "POST", url: "/v1/media", headers: hdr(guard),
			body: createJSON(id, "image/jpeg", text), status: 409, contains: []string{`"code":"conflict"`}},
		{name: "same id, other user", method: "POST", url: "/v1/media", headers: hdr(guard2),
			body: createJSON(id, "image/jpeg", photo), status: 409},
		{name: "complete by another user", method: "POST", url: "/v1/media/" + id + "/complete", headers: hdr(guard2), status: 404},
		{name: "missing, no status", method: "GET", url: "/v1/media?site_id=" + fieldsync.DemoSiteA, headers: hdr(cs),
			status: 400, contains: []string{`"field":"status"`}},
		{name: "missing, other site", method: "GET", url: "/v1/media?status=pending&site_id=" + fieldsync.DemoSiteA, headers: hdr(csB),
			status: 403},
		{name: "missing, other tenant", method: "GET", url: "/v1/media?status=pending&site_id=" + fieldsync.DemoSiteA, headers: hdr(other),
			status: 200, contains: []string{`{"media":[]}`}},
		{name: "missing evidence", method: "GET", url: "/v1/media?status=pending&site_id=" + fieldsync.DemoSiteA, headers: hdr(cs),
			status: 200, contains: []string{`"id":"` + id + `"`, `"id":"` + missingID + `","status":"pending","announced":false`, `"collection":"inspections"`}},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, srv) })
	}

	if resp, b := sendTo(t, "PUT", created.Upload.URL, photo, created.Upload.Headers); resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %d %s", resp.StatusCode, b)
	}
	for range 2 { // complete is idempotent
		var done mediaBody
		mustDo(t, srv, "POST", "/v1/media/"+id+"/complete", "", guard.Headers(), 200, &done)
		if done.Status != "stored" || done.Width != 400 {
			t.Fatalf("complete: got %+v", done)
		}
	}
	var again mediaBody
	mustDo(t, srv, "POST", "/v1/media", createJSON(id, "image/jpeg", photo), guard.Headers(), 201, &again)
	if again.Status != "stored" || again.Upload != nil {
		t.Fatalf("create after store: got %+v, want stored without upload", again)
	}
	d.Media.Wait()
	for _, s := range []session{guard, cs} {
		var got mediaBody
		mustDo(t, srv, "GET", "/v1/media/"+id, "", s.Headers(), 200, &got)
		if got.URLs == nil || got.URLs.Original == "" || got.URLs.Thumbnail == "" {
			t.Fatalf("get: got %+v, want original and thumbnail URLs", got)
		}
		resp, b := sendTo(t, "GET", got.URLs.Original, nil, nil)
		if resp.StatusCode != 200 || !bytes.Equal(b, photo) || resp.Header.Get("Content-Encoding") != "" {
			t.Fatalf("download: status %d, %d bytes (want %d), Content-Encoding %q", resp.StatusCode, len(b), len(photo), resp.Header.Get("Content-Encoding"))
		}
	}
	// guard.a2 is on site A: guards see the site's inspections of the last 7 days.
	scenario{method: "GET", url: "/v1/media/" + id, headers: guard2.Headers(), status: 200}.run(t, srv)
	for _, s := range []session{guardB, csB, other} {
		scenario{method: "GET", url: "/v1/media/" + id, headers: s.Headers(), status: 404}.run(t, srv)
	}
	scenario{method: "GET", url: "/v1/media?status=pending&site_id=" + fieldsync.DemoSiteA, headers: cs.Headers(), status: 200,
		absent: []string{id}}.run(t, srv)

	// A text file declared as JPEG is refused and not kept.
	if resp, b := sendTo(t, "PUT", textCreated.Upload.URL, text, textCreated.Upload.Headers); resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %d %s", resp.StatusCode, b)
	}
	scenario{method: "POST", url: "/v1/media/" + textID + "/complete", headers: guard.Headers(), status: 422,
		contains: []string{`"code":"unprocessable"`, `"field":"content_type"`}}.run(t, srv)
	if n := countObjects(t, d.Objects); n != 2 { // the photo and its thumbnail
		t.Fatalf("got %d objects in the bucket, want 2", n)
	}
}

func countObjects(tb testing.TB, o *media.ObjectStore) int {
	tb.Helper()
	n := 0
	for obj := range o.Client.ListObjects(context.Background(), o.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			tb.Fatal(obj.Err)
		}
		n++
	}
	return n
}

func TestMediaStreamedUploadAPI(t *testing.T) {
	t.Parallel()
	// Every kind at most 20 MiB: a body beyond the largest limit is cut off at once.
	srv := newFullServerWith(t, func(c *fullConfig) {
		c.Media.MaxBytesByKind = map[string]int64{fieldsync.KindVideo: 20 << 20}
	})
	guard := mustLoginSession(t, srv, "guard.a1", "")
	photo := testJPEG(t, 64, 48)
	id := uuid.NewString()
	mustDo(t, srv, "POST", "/v1/media", createJSON(id, "image/jpeg", photo), guard.Headers(), 201, nil)
	h := guard.Headers()
	h["Content-Type"] = "image/jpeg"
	resp, b := rawRequest(t, srv, "PUT", "/v1/media/"+id+"/content", photo[:len(photo)-1], h)
	if resp.StatusCode != 422 {
		t.Fatalf("short body: got %d %s, want 422", resp.StatusCode, b)
	}
	resp, b = rawRequest(t, srv, "PUT", "/v1/media/"+id+"/content", photo, h)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"status":"stored"`) {
		t.Fatalf("upload: got %d %s, want 200 stored", resp.StatusCode, b)
	}
	resp, b = rawRequest(t, srv, "PUT", "/v1/media/"+uuid.NewString()+"/content", photo, h)
	if resp.StatusCode != 404 {
		t.Fatalf("unknown id: got %d %s, want 404", resp.StatusCode, b)
	}
	big := uuid.NewString()
	resp, b = rawRequest(t, srv, "PUT", "/v1/media/"+big+"/content", make([]byte, 21<<20), h)
	if resp.StatusCode != 413 {
		t.Fatalf("over the max size: got %d %s, want 413", resp.StatusCode, b)
	}
}

func TestMediaObjectStoreDownIs503(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	d := depsOf(t, srv)
	dead, err := media.OpenObjectStore(media.ObjectStoreOptions{Endpoint: "127.0.0.1:1", AccessKey: "k", SecretKey: "s", Bucket: "evidence"})
	if err != nil {
		t.Fatal(err)
	}
	// The same server, its media service pointed at a dead object store.
	deadSrv := api.New(api.Options{Auth: d.Auth, Sync: d.Engine, Media: media.NewService(nil, dead, d.Engine, media.Options{})})
	guard := mustLoginSession(t, srv, "guard.a1", "")
	scenario{method: "POST", url: "/v1/media", headers: guard.Headers(), body: createJSON(uuid.NewString(), "image/jpeg", []byte{1}),
		status: 503, contains: []string{`"code":"unavailable"`},
		after: func(tb testing.TB, resp *http.Response, _ []byte) {
			if resp.Header.Get("Retry-After") == "" {
				tb.Fatal("503 without Retry-After")
			}
		}}.run(t, deadSrv)
	scenario{method: "GET", url: "/v1/media/" + uuid.NewString(), headers: guard.Headers(), status: 503}.run(t, deadSrv)
	// Everything else keeps working: records sync, citing photos not stored yet.
	scenario{method: "GET", url: "/v1/me", headers: guard.Headers(), status: 200}.run(t, deadSrv)
	pushInspection(t, deadSrv, guard, uuid.NewString())
}

// jpegStream is a deterministic pseudo-random body of n bytes that is a
// well-formed JPEG of 10000×10000 pixels — over the decode cap, so the server
// reads its header and walks its structure without decoding it: a frame
// header, a scan of random bytes (no 0xFF) and the end-of-image marker. It is
// generated as it is read: the client side holds none of it.
type jpegStream struct {
	n, off int64
	rng    *rand.ChaCha8
}

// bigJPEGHeader: start of image; SOF0, 8-bit, 10000×10000, one component; SOS.
const bigJPEGHeader = "\xFF\xD8" + "\xFF\xC0\x00\x0B\x08\x27\x10\x27\x10\x01\x01\x11\x00" + "\xFF\xDA\x00\x08\x01\x01\x00\x00\x3F\x00"

func newJPEGStream(n int64) *jpegStream {
	return &jpegStream{n: n, rng: rand.NewChaCha8([32]byte{7})}
}

func (s *jpegStream) Read(p []byte) (int, error) {
	if s.off >= s.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.n-s.off)]
	_, _ = s.rng.Read(p)
	for i := range p {
		switch at := s.off + int64(i); {
		case at < int64(len(bigJPEGHeader)):
			p[i] = bigJPEGHeader[at]
		case at == s.n-2:
			p[i] = 0xFF
		case at == s.n-1:
			p[i] = 0xD9 // end of image
		case p[i] == 0xFF:
			p[i] = 0xFE
		}
	}
	s.off += int64(len(p))
	return len(p), nil
}

func streamSHA256(n int64) string {
	h := sha256.New()
	_, _ = io.Copy(h, newJPEGStream(n))
	return hex.EncodeToString(h.Sum(nil))
}

// streamUpload announces an n-byte stream and PUTs it through base's API.
func streamUpload(tb testing.TB, srv *api.Server, base string, s session, n int64, sha string) {
	tb.Helper()
	streamUploadFrom(tb, srv, base, s, newJPEGStream(n), n, sha)
}

// streamUploadFrom is streamUpload of the n bytes body reads.
func streamUploadFrom(tb testing.TB, srv *api.Server, base string, s session, body io.Reader, n int64, sha string) {
	tb.Helper()
	id := uuid.NewString()
	mustDo(tb, srv, "POST", "/v1/media", fmt.Sprintf(`{"id":%q,"content_type":"image/jpeg","size":%d,"sha256":%q}`, id, n, sha), s.Headers(), 201, nil)
	req, err := http.NewRequest("PUT", base+"/v1/media/"+id+"/content", body)
	if err != nil {
		tb.Fatal(err)
	}
	req.ContentLength = n
	req.Header.Set("Authorization", "Bearer "+s.Access)
	req.Header.Set("Content-Type", "image/jpeg")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"status":"stored"`) {
		tb.Fatalf("streamed upload: got %d %s", resp.StatusCode, b)
	}
}

// TestMediaStreamedUploadHeap streams 50 MiB through a real listener and
// samples the heap meanwhile: it must not grow with the upload. Not parallel,
// so other tests' allocations do not blur the figure.
func TestMediaStreamedUploadHeap(t *testing.T) {
	const n = 50 << 20
	srv := newFullServerWith(t, func(c *fullConfig) { c.Media.MaxBytes = 64 << 20 })
	base := "http://" + serveOnLoopback(t, srv)
	guard := mustLoginSession(t, srv, "guard.a1", "")
	sha := streamSHA256(n)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	streamUpload(t, srv, base, guard, n, sha)
	close(stop)
	<-sampled
	depsOf(t, srv).Media.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	growth := int64(peak.Load()) - int64(before.HeapAlloc)
	t.Logf("50 MiB streamed upload: heap before %.1f MiB, peak %.1f MiB, growth %.2f MiB; allocated in total %.1f MiB",
		mib(before.HeapAlloc), mib(peak.Load()), float64(growth)/(1<<20), mib(after.TotalAlloc-before.TotalAlloc))
	if growth > 8<<20 {
		t.Fatalf("heap grew by %.1f MiB during a 50 MiB streamed upload, want under 8 MiB", float64(growth)/(1<<20))
	}
}

func mib(v uint64) float64 { return float64(v) / (1 << 20) }

// BenchmarkMediaUpload compares a streamed upload through the API (announce,
// PUT /content with verification) with minio-go putting the same bytes
// straight into the object store, in the same run, for several sizes.
// api/direct is the throughput ratio (1 = as fast as writing to the store
// directly); the API's fixed costs (announce, token check, two database
// writes) weigh more on small photos.
func BenchmarkMediaUpload(b *testing.B) {
	for _, n := range []int64{4 << 20, 16 << 20, 48 << 20} {
		b.Run(fmt.Sprintf("%dMiB", n>>20), func(b *testing.B) { benchmarkMediaUpload(b, n) })
	}
}

func benchmarkMediaUpload(b *testing.B, n int64) {
	srv := newFullServerWith(b, func(c *fullConfig) { c.Media.MaxBytes = 64 << 20 })
	d := depsOf(b, srv)
	base := "http://" + serveOnLoopback(b, srv)
	guard := mustLoginSession(b, srv, "guard.a1", "")
	sha := streamSHA256(n)
	var direct, viaAPI time.Duration
	b.SetBytes(2 * n)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		_, err := d.Objects.Client.PutObject(context.Background(), d.Objects.Bucket, fmt.Sprintf("bench/%d", i), newJPEGStream(n), n,
			minio.PutObjectOptions{ContentType: "image/jpeg", DisableContentSha256: true, DisableMultipart: true})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		streamUpload(b, srv, base, guard, n, sha)
		direct += t1.Sub(t0)
		viaAPI += time.Since(t1)
	}
	b.StopTimer()
	d.Media.Wait()
	b.ReportMetric(float64(direct)/float64(viaAPI), "api/direct")
	b.ReportMetric(float64(n)/(1<<20)/viaAPI.Seconds()*float64(b.N), "api-MiB/s")
	b.ReportMetric(float64(n)/(1<<20)/direct.Seconds()*float64(b.N), "direct-MiB/s")
}

// TestMediaConcurrentRetries: a phone retrying create and complete in
// parallel (lost responses) gets one media, stored once.
func TestMediaConcurrentRetries(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	guard := mustLoginSession(t, srv, "guard.a1", "")
	photo := testJPEG(t, 32, 32)
	id := uuid.NewString()
	body := createJSON(id, "image/jpeg", photo)
	const n = 6
	run := func(method, url, body string, status int, want string) {
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var got mediaBody
				mustDo(t, srv, method, url, body, guard.Headers(), status, &got)
				if got.ID != id || got.Status != want {
					t.Errorf("%s %s: got %+v, want %s", method, url, got, want)
				}
			}()
		}
		wg.Wait()
	}
	run("POST", "/v1/media", body, 201, "pending")
	var created mediaBody
	mustDo(t, srv, "POST", "/v1/media", body, guard.Headers(), 201, &created)
	if resp, b := sendTo(t, "PUT", created.Upload.URL, photo, created.Upload.Headers); resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %d %s", resp.StatusCode, b)
	}
	run("POST", "/v1/media/"+id+"/complete", "", 200, "stored")
	if got := countObjects(t, depsOf(t, srv).Objects); got < 1 || got > 2 { // the photo, and its thumbnail once made
		t.Fatalf("got %d objects, want the photo and at most one thumbnail", got)
	}
}

// pushInspection creates an inspection of site A citing photoIDs, pushed
// through /v1/sync/push by the session's phone.
func pushInspection(tb testing.TB, srv *api.Server, s session, photoIDs ...string) {
	tb.Helper()
	ids, _ := json.Marshal(photoIDs)
	body := fmt.Sprintf(`{"device_id":%q,"mutations":[{"mutation_id":%q,"collection":"inspections","op":"create","id":%q,`+
		`"fields":{"site_id":%q,"category":"sanitation","photo_ids":%s}}]}`, s.DeviceID, uuid.NewString(), uuid.NewString(), fieldsync.DemoSiteA, ids)
	var res struct {
		Results []struct{ Status string } `json:"results"`
	}
	mustDo(tb, srv, "POST", "/v1/sync/push", body, s.Headers(), 200, &res)
	if len(res.Results) != 1 || res.Results[0].Status != fieldsync.StatusApplied {
		tb.Fatalf("push: got %+v", res)
	}
}
