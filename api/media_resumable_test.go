package api_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"fieldsync/api"
	"fieldsync/devstack/devtest"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
)

// testMovie is a structurally valid MP4 of about n bytes (ftyp, moov with a
// video track's handler, mdat of pseudo-random bytes).
func testMovie(n int, seed uint64) []byte {
	box := func(typ string, body []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
		return append(append(b, typ...), body...)
	}
	data := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := 0; i+8 <= len(data); i += 8 {
		binary.LittleEndian.PutUint64(data[i:], r.Uint64())
	}
	hdlr := box("hdlr", append(make([]byte, 8), "vide\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"...))
	out := box("ftyp", []byte("isom\x00\x00\x02\x00isomiso2avc1mp41"))
	out = append(out, box("moov", box("trak", box("mdia", hdlr)))...)
	return append(out, box("mdat", data)...)
}

type multipartState struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	UploadID  string `json:"upload_id"`
	PartSize  int64  `json:"part_size"`
	PartCount int    `json:"part_count"`
	Parts     []struct {
		Number int   `json:"number"`
		Size   int64 `json:"size"`
	} `json:"parts"`
}

type partURLs struct {
	Parts []struct {
		Number  int               `json:"number"`
		Size    int64             `json:"size"`
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
	} `json:"parts"`
}

func b64MD5(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func b64CRC32C(b []byte) string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, castagnoli)))
}

// askParts asks the API for the URLs of parts numbers of body, signed for their CRC32Cs.
func askParts(tb testing.TB, srv *api.Server, s session, id string, body []byte, partSize int64, numbers ...int) partURLs {
	tb.Helper()
	type pr struct {
		Number int    `json:"number"`
		CRC32C string `json:"crc32c"`
	}
	var req struct {
		Parts []pr `json:"parts"`
	}
	for _, n := range numbers {
		req.Parts = append(req.Parts, pr{n, b64CRC32C(cut(body, partSize, n))})
	}
	b, _ := json.Marshal(req)
	var out partURLs
	mustDo(tb, srv, "POST", "/v1/media/"+id+"/multipart/parts", string(b), s.Headers(), 200, &out)
	return out
}

func cut(body []byte, size int64, n int) []byte {
	lo := int64(n-1) * size
	return body[lo:min(lo+size, int64(len(body)))]
}

// putPartWith sends a part of n bytes with client and the headers given; the
// error is the connection's.
func putPartWith(client *http.Client, url string, headers map[string]string, body io.Reader, n int64) (int, error) {
	req, err := http.NewRequest(http.MethodPut, url, body)
	if err != nil {
		return 0, err
	}
	req.ContentLength = n
	for k, v := range headers {
		if k != "Content-Length" {
			req.Header.Set(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// cutAfter reads r and calls cut once after n bytes (the network goes down mid-part).
type cutAfter struct {
	r   io.Reader
	n   int
	cut func()
}

func (c *cutAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		if c.cut != nil {
			c.cut()
			c.cut = nil
		}
		return 0, io.ErrUnexpectedEOF
	}
	p = p[:min(len(p), c.n)]
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

// TestResumableUploadOverHTTP: a 4-part video loses the network in the middle
// of its third part (the connection to the object store is cut); another
// process (a new login and a new HTTP client, the same media id) asks which
// parts the store holds, sends the rest and completes; the object is
// verified, served back whole, and completing again answers the same.
func TestResumableUploadOverHTTP(t *testing.T) {
	t.Parallel()
	objects, proxy := devtest.MustOpenObjectsVia(t)
	srv := newFullServerWith(t, func(c *fullConfig) { c.Objects = objects })
	phone := mustLoginSession(t, srv, "guard.a1", "")
	body := testMovie(17<<20, 11)
	id := uuid.NewString()
	mustDo(t, srv, "POST", "/v1/media", fmt.Sprintf(`{"id":%q,"kind":"video","content_type":"video/mp4","size":%d,"sha256":%q}`,
		id, len(body), hexSHA256(body)), phone.Headers(), 201, nil)

	var st multipartState
	mustDo(t, srv, "POST", "/v1/media/"+id+"/multipart", "", phone.Headers(), 200, &st)
	if st.PartCount != 4 || st.PartSize != 5<<20 || len(st.Parts) != 0 || st.UploadID == "" {
		t.Fatalf("got %+v, want 4 parts of 5 MiB, none stored", st)
	}
	urls := askParts(t, srv, phone, id, body, st.PartSize, 1, 2, 3, 4)
	client1 := &http.Client{}
	for _, p := range urls.Parts[:2] {
		code, err := putPartWith(client1, p.URL, p.Headers, bytes.NewReader(cut(body, st.PartSize, p.Number)), p.Size)
		if err != nil || code != 200 {
			t.Fatalf("part %d: got %d, %v", p.Number, code, err)
		}
	}
	p3 := urls.Parts[2]
	_, err := putPartWith(client1, p3.URL, p3.Headers,
		&cutAfter{r: bytes.NewReader(cut(body, st.PartSize, 3)), n: 2 << 20, cut: proxy.Pause}, p3.Size)
	if err == nil {
		t.Fatal("part 3 went through a cut connection")
	}
	proxy.Resume()

	// Another process: a new login on the phone after the app restarted, a new HTTP client.
	again := mustLoginSession(t, srv, "guard.a1", phone.DeviceID)
	var st2 multipartState
	mustDo(t, srv, "GET", "/v1/media/"+id+"/multipart", "", again.Headers(), 200, &st2)
	if st2.UploadID != st.UploadID || len(st2.Parts) != 2 || st2.Parts[0].Number != 1 || st2.Parts[1].Number != 2 {
		t.Fatalf("resumed: got %+v, want upload %s holding parts 1 and 2", st2, st.UploadID)
	}
	mustDo(t, srv, "POST", "/v1/media/"+id+"/complete", "", again.Headers(), 409, nil) // parts 3 and 4 missing
	client2 := &http.Client{}
	for _, p := range askParts(t, srv, again, id, body, st2.PartSize, 3, 4).Parts {
		code, err := putPartWith(client2, p.URL, p.Headers, bytes.NewReader(cut(body, st.PartSize, p.Number)), p.Size)
		if err != nil || code != 200 {
			t.Fatalf("part %d: got %d, %v", p.Number, code, err)
		}
	}
	var m struct {
		Status string `json:"status"`
		Kind   string `json:"kind"`
		URLs   struct {
			Original string `json:"original"`
		} `json:"urls"`
	}
	mustDo(t, srv, "POST", "/v1/media/"+id+"/complete", "", again.Headers(), 200, &m)
	if m.Status != "stored" || m.Kind != "video" {
		t.Fatalf("complete: got %+v, want a stored video", m)
	}
	mustDo(t, srv, "POST", "/v1/media/"+id+"/complete", "", again.Headers(), 200, &m) // idempotent
	mustDo(t, srv, "GET", "/v1/media/"+id, "", again.Headers(), 200, &m)
	resp, got := sendTo(t, "GET", m.URLs.Original, nil, nil)
	if resp.StatusCode != 200 || !bytes.Equal(got, body) {
		t.Fatalf("download: got %d with %d bytes, want the %d uploaded", resp.StatusCode, len(got), len(body))
	}
}

// TestResumableUploadProblems: bad part requests answer problem+json naming the field.
func TestResumableUploadProblems(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	phone := mustLoginSession(t, srv, "guard.a1", "")
	other := mustLoginSession(t, srv, "guard.b1", "")
	body := testMovie(1<<20, 12)
	id := uuid.NewString()
	mustDo(t, srv, "POST", "/v1/media", fmt.Sprintf(`{"id":%q,"content_type":"video/mp4","size":%d,"sha256":%q}`,
		id, len(body), hexSHA256(body)), phone.Headers(), 201, nil)
	for _, sc := range []scenario{
		{name: "parts before start", method: "POST", url: "/v1/media/" + id + "/multipart/parts", headers: phone.Headers(),
			body: `{"parts":[{"number":1,"md5":"` + b64MD5(body) + `"}]}`, status: 409},
		{name: "state before start", method: "GET", url: "/v1/media/" + id + "/multipart", headers: phone.Headers(), status: 404},
		{name: "start", method: "POST", url: "/v1/media/" + id + "/multipart", headers: phone.Headers(), status: 200,
			contains: []string{`"part_count":1`, `"parts":[]`}},
		{name: "another user", method: "POST", url: "/v1/media/" + id + "/multipart", headers: other.Headers(), status: 404},
		{name: "bad md5", method: "POST", url: "/v1/media/" + id + "/multipart/parts", headers: phone.Headers(),
			body: `{"parts":[{"number":1,"md5":"nope"}]}`, status: 400, contains: []string{`parts[0].md5`}},
		{name: "bad crc32c", method: "POST", url: "/v1/media/" + id + "/multipart/parts", headers: phone.Headers(),
			body: `{"parts":[{"number":1,"crc32c":"` + b64MD5(body) + `"}]}`, status: 400, contains: []string{`parts[0].crc32c`}},
		{name: "no checksum", method: "POST", url: "/v1/media/" + id + "/multipart/parts", headers: phone.Headers(),
			body: `{"parts":[{"number":1}]}`, status: 400, contains: []string{`parts[0].md5`}},
		{name: "number out of range", method: "POST", url: "/v1/media/" + id + "/multipart/parts", headers: phone.Headers(),
			body: `{"parts":[{"number":2,"md5":"` + b64MD5(body) + `"}]}`, status: 400, contains: []string{`parts[0].number`}},
		{name: "abort", method: "DELETE", url: "/v1/media/" + id + "/multipart", headers: phone.Headers(), status: 204},
		{name: "a PDF declared a photo", method: "POST", url: "/v1/media", headers: phone.Headers(),
			body:   `{"id":"` + uuid.NewString() + `","kind":"photo","content_type":"application/pdf","size":10,"sha256":"` + hexSHA256(body) + `"}`,
			status: 400, contains: []string{`content_type`}},
		{name: "unknown kind", method: "POST", url: "/v1/media", headers: phone.Headers(),
			body:   `{"id":"` + uuid.NewString() + `","kind":"hologram","content_type":"image/png","size":10,"sha256":"` + hexSHA256(body) + `"}`,
			status: 400, contains: []string{`"kind"`}},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, srv) })
	}
}

// synthMovie is a structurally valid MP4 of n bytes of media data that is
// generated as it is read, from any offset: a benchmark's phone holds none
// of it, so the process heap shows the server's own use.
type synthMovie struct {
	header  []byte
	size    int64
	sha256  string
	crc32cs []string // of the parts of media.MinPartSize bytes
}

func newSynthMovie(n int64) *synthMovie {
	box := func(typ string, body []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
		return append(append(b, typ...), body...)
	}
	hdlr := box("hdlr", append(make([]byte, 8), "vide\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"...))
	h := box("ftyp", []byte("isom\x00\x00\x02\x00isomiso2avc1mp41"))
	h = append(h, box("moov", box("trak", box("mdia", hdlr)))...)
	h = binary.BigEndian.AppendUint32(h, uint32(8+n))
	h = append(h, "mdat"...)
	m := &synthMovie{header: h, size: int64(len(h)) + n}
	sum := sha256.New()
	_, _ = io.Copy(sum, m.section(0, m.size))
	m.sha256 = hex.EncodeToString(sum.Sum(nil))
	for lo := int64(0); lo < m.size; lo += 5 << 20 {
		h := crc32.New(castagnoli)
		_, _ = io.Copy(h, m.section(lo, min(lo+5<<20, m.size)))
		m.crc32cs = append(m.crc32cs, base64.StdEncoding.EncodeToString(h.Sum(nil)))
	}
	return m
}

// section reads bytes [lo, hi) of the file.
func (m *synthMovie) section(lo, hi int64) io.Reader { return &movieReader{m: m, off: lo, end: hi} }

type movieReader struct {
	m        *synthMovie
	off, end int64
}

func (r *movieReader) Read(p []byte) (int, error) {
	if r.off >= r.end {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.end-r.off)]
	hl := int64(len(r.m.header))
	for i := 0; i < len(p); {
		at := r.off + int64(i)
		if at < hl {
			p[i] = r.m.header[at]
			i++
			continue
		}
		j := at - hl
		w := splitmix(uint64(j >> 3))
		for k := j & 7; k < 8 && i < len(p); k++ {
			p[i] = byte(w >> (8 * k))
			i++
		}
	}
	r.off += int64(len(p))
	return len(p), nil
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// phone calls the API over a loopback socket with a plain HTTP client, as a
// phone does (no contract checks: a benchmark's phone does not validate).
type phone struct {
	base  string
	token string
}

func newPhone(tb testing.TB, srv *api.Server, s session) phone {
	tb.Helper()
	return phone{base: "http://" + serveOnLoopback(tb, srv), token: s.Access}
}

// call sends a JSON request and decodes the answer into out, failing unless
// the status is want.
func (p phone) call(tb testing.TB, method, path, body string, want int, out any) {
	tb.Helper()
	req, err := http.NewRequest(method, p.base+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		tb.Fatalf("%s %s: got %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			tb.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// uploadTimes are the phases of one resumable upload: wall time, and the
// process's CPU time (API, gateway, database and phone).
type uploadTimes struct {
	calls, callsCPU       time.Duration // announce, start, part URLs
	parts, partsCPU       time.Duration // the parts, straight to the object store
	complete, completeCPU time.Duration // assembly and verification
}

func (u uploadTimes) add(v uploadTimes) uploadTimes {
	return uploadTimes{u.calls + v.calls, u.callsCPU + v.callsCPU, u.parts + v.parts, u.partsCPU + v.partsCPU,
		u.complete + v.complete, u.completeCPU + v.completeCPU}
}

// resumableUpload announces m as a video and sends it through the resumable
// path of the API: start, part URLs (signed for the parts' CRC32Cs), the
// parts (parallel at once, straight to the object store), complete. It
// answers how long each phase took.
func resumableUpload(tb testing.TB, ph phone, m *synthMovie, parallel int) uploadTimes {
	tb.Helper()
	t0, c0 := time.Now(), processCPU()
	id := uuid.NewString()
	ph.call(tb, "POST", "/v1/media", fmt.Sprintf(`{"id":%q,"content_type":"video/mp4","size":%d,"sha256":%q}`,
		id, m.size, m.sha256), 201, nil)
	var st multipartState
	ph.call(tb, "POST", "/v1/media/"+id+"/multipart", "", 200, &st)
	if st.PartSize != 5<<20 {
		tb.Fatalf("got part size %d, want 5 MiB", st.PartSize)
	}
	asked := make([]string, st.PartCount)
	for i := range asked {
		asked[i] = fmt.Sprintf(`{"number":%d,"crc32c":%q}`, i+1, m.crc32cs[i])
	}
	var urls partURLs
	ph.call(tb, "POST", "/v1/media/"+id+"/multipart/parts", `{"parts":[`+strings.Join(asked, ",")+`]}`, 200, &urls)
	t1, c1 := time.Now(), processCPU()
	work := make(chan int, len(urls.Parts))
	for i := range urls.Parts {
		work <- i
	}
	close(work)
	errs := make(chan error, parallel)
	for range parallel {
		go func() {
			for i := range work {
				p := urls.Parts[i]
				lo := int64(p.Number-1) * st.PartSize
				code, err := putPartWith(http.DefaultClient, p.URL, p.Headers, m.section(lo, lo+p.Size), p.Size)
				if err == nil && code != 200 {
					err = fmt.Errorf("part %d: status %d", p.Number, code)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range parallel {
		if err := <-errs; err != nil {
			tb.Fatal(err)
		}
	}
	t2, c2 := time.Now(), processCPU()
	var out struct {
		Status string `json:"status"`
	}
	ph.call(tb, "POST", "/v1/media/"+id+"/complete", "", 200, &out)
	if out.Status != "stored" {
		tb.Fatalf("complete: got %+v", out)
	}
	return uploadTimes{calls: t1.Sub(t0), callsCPU: c1 - c0, parts: t2.Sub(t1), partsCPU: c2 - c1,
		complete: time.Since(t2), completeCPU: processCPU() - c2}
}

// TestResumableUploadHeap sends 50 MiB through the resumable path and samples
// the heap meanwhile: the bytes go to the object store, and completion
// streams them once, so the API's heap must not grow with the upload. Not
// parallel, so other tests' allocations do not blur the figure. (The
// embedded object store and database run in this process: their use counts too.)
func TestResumableUploadHeap(t *testing.T) {
	srv := newFullServer(t)
	ph := newPhone(t, srv, mustLoginSession(t, srv, "guard.a1", ""))
	m := newSynthMovie(50 << 20)
	// One part at a time, as a phone on a weak network sends them. With 4 at
	// once the figure (logged) adds the in-process gateway's buffers of 4
	// connections, which a deployment's object store keeps in its own process.
	for _, parallel := range []int{1, 4} {
		growth := heapGrowth(func() { resumableUpload(t, ph, m, parallel) })
		t.Logf("50 MiB resumable upload (10 parts, %d at once): heap growth %.2f MiB", parallel, float64(growth)/(1<<20))
		if parallel == 1 && growth > 8<<20 {
			t.Fatalf("heap grew by %.1f MiB during a 50 MiB resumable upload, want under 8 MiB", float64(growth)/(1<<20))
		}
	}
}

// heapGrowth runs f and answers how far the heap grew above where it was
// before, sampled every 2 ms.
func heapGrowth(f func()) int64 {
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
	f()
	close(stop)
	<-sampled
	return int64(peak.Load()) - int64(before.HeapAlloc)
}

// BenchmarkMediaResumableUpload compares a 50 MiB upload through the
// resumable path (announce, start, part URLs, 10 parts of 5 MiB straight to
// the object store, complete: assemble, verify in one streamed read, serve
// in place) with minio-go putting the same bytes into the store in one
// PutObject (unsigned payload, no Content-MD5), in the same run, from the
// same in-process "phone" generating the bytes as they are read.
// resumable/direct is the throughput ratio (wall time; the two alternate
// which goes first, after a GC outside the timing); cpu-resumable/direct
// the ratio of the process's CPU time (API, gateway, database and phone all
// run in it), which other load on the machine moves far less. The heap
// growth is sampled on one upload before the timed ones (sampling stops the
// world every 2 ms).
func BenchmarkMediaResumableUpload(b *testing.B) {
	for _, parallel := range []int{1, 4} {
		b.Run(fmt.Sprintf("50MiB/parts-at-once-%d", parallel), func(b *testing.B) { benchmarkResumable(b, 50<<20, parallel) })
	}
}

func benchmarkResumable(b *testing.B, n int64, parallel int) {
	srv := newFullServer(b)
	d := depsOf(b, srv)
	ph := newPhone(b, srv, mustLoginSession(b, srv, "guard.a1", ""))
	m := newSynthMovie(n)
	growth := heapGrowth(func() { resumableUpload(b, ph, m, parallel) })
	directPut := func(i int) {
		_, err := d.Objects.Client.PutObject(context.Background(), d.Objects.Bucket, fmt.Sprintf("bench/%d", i), m.section(0, m.size), m.size,
			minio.PutObjectOptions{ContentType: "video/mp4", DisableContentSha256: true, DisableMultipart: true})
		if err != nil {
			b.Fatal(err)
		}
	}
	var direct, resumable, directCPU, resumableCPU time.Duration
	var phases uploadTimes
	b.SetBytes(2 * m.size)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		runtime.GC()
		b.StartTimer()
		for k := range 2 {
			t0, c0 := time.Now(), processCPU()
			if (i+k)%2 == 0 {
				directPut(i)
				direct, directCPU = direct+time.Since(t0), directCPU+processCPU()-c0
				continue
			}
			u := resumableUpload(b, ph, m, parallel)
			resumable, resumableCPU = resumable+time.Since(t0), resumableCPU+processCPU()-c0
			phases = phases.add(u)
		}
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(float64(direct)/float64(resumable), "resumable/direct")
	b.ReportMetric(float64(directCPU)/float64(resumableCPU), "cpu-resumable/direct")
	b.ReportMetric(float64(m.size)/(1<<20)/resumable.Seconds()*float64(b.N), "resumable-MiB/s")
	b.ReportMetric(float64(m.size)/(1<<20)/direct.Seconds()*float64(b.N), "direct-MiB/s")
	b.ReportMetric(float64(growth)/(1<<20), "heap-growth-MiB")
	b.ReportMetric(ms(direct), "direct-ms")
	b.ReportMetric(ms(phases.calls), "calls-ms")
	b.ReportMetric(ms(phases.parts), "parts-ms")
	b.ReportMetric(ms(phases.complete), "complete-ms")
	b.ReportMetric(ms(directCPU), "cpu-direct-ms")
	b.ReportMetric(ms(phases.callsCPU), "cpu-calls-ms")
	b.ReportMetric(ms(phases.partsCPU), "cpu-parts-ms")
	b.ReportMetric(ms(phases.completeCPU), "cpu-complete-ms")
}

// processCPU is the CPU time this process has used (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
