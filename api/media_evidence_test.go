package api_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"fieldsync/api"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
)

// htmlOfLen is an HTML page of exactly n bytes.
func htmlOfLen(n int) []byte {
	b := []byte("<html><body><script>alert(document.domain)</script>")
	for len(b) < n {
		b = append(b, ' ')
	}
	return b[:n]
}

// mustGetMedia answers GET /v1/media/{id} as s, checking the API's own headers.
func mustGetMedia(tb testing.TB, srv *api.Server, s session, id string) mediaBody {
	tb.Helper()
	var got mediaBody
	scenario{method: "GET", url: "/v1/media/" + id, headers: s.Headers(), status: 200,
		after: func(tb testing.TB, resp *http.Response, b []byte) {
			if v := resp.Header.Get("X-Content-Type-Options"); v != "nosniff" {
				tb.Errorf("GET /v1/media/%s: X-Content-Type-Options %q, want nosniff", id, v)
			}
			if err := json.Unmarshal(b, &got); err != nil {
				tb.Fatal(err)
			}
		}}.run(tb, srv)
	return got
}

// TestVerifiedEvidenceCannotBeSwapped: after complete answers stored, a PUT of
// same-length HTML to the announce-time upload URL (still valid) changes
// nothing that is served: the verified bytes were copied to a key no client
// was given, and every download is those bytes, as image/jpeg, an attachment
// named after the media. The same after an upload through the API, and after
// a resumable upload, served where it was assembled: a part URL the uploader
// had signed for the HTML before completing writes nothing after.
func TestVerifiedEvidenceCannotBeSwapped(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	guard := mustLoginSession(t, srv, "guard.a1", "")
	photo := testJPEG(t, 64, 48)
	html := htmlOfLen(len(photo))

	for _, via := range []string{"presigned", "api", "resumable"} {
		t.Run(via, func(t *testing.T) {
			id := uuid.NewString()
			var created mediaBody
			mustDo(t, srv, "POST", "/v1/media", createJSON(id, "image/jpeg", photo), guard.Headers(), 201, &created)
			switch via {
			case "presigned":
				if resp, b := sendTo(t, "PUT", created.Upload.URL, photo, created.Upload.Headers); resp.StatusCode != 200 {
					t.Fatalf("presigned PUT: %d %s", resp.StatusCode, b)
				}
				mustDo(t, srv, "POST", "/v1/media/"+id+"/complete", "", guard.Headers(), 200, nil)
			case "resumable":
				mustDo(t, srv, "POST", "/v1/media/"+id+"/multipart", "", guard.Headers(), 200, nil)
				good := askParts(t, srv, guard, id, photo, int64(len(photo)), 1).Parts[0]
				evil := askParts(t, srv, guard, id, html, int64(len(html)), 1).Parts[0]
				if code, err := putPartWith(http.DefaultClient, good.URL, good.Headers, bytes.NewReader(photo), good.Size); err != nil || code != 200 {
					t.Fatalf("part: got %d, %v", code, err)
				}
				mustDo(t, srv, "POST", "/v1/media/"+id+"/complete", "", guard.Headers(), 200, nil)
				if code, err := putPartWith(http.DefaultClient, evil.URL, evil.Headers, bytes.NewReader(html), evil.Size); err == nil && code == 200 {
					t.Fatal("a part URL signed before completion wrote after it")
				}
			default:
				h := guard.Headers()
				h["Content-Type"] = "image/jpeg"
				if resp, b := rawRequest(t, srv, "PUT", "/v1/media/"+id+"/content", photo, h); resp.StatusCode != 200 {
					t.Fatalf("upload: %d %s", resp.StatusCode, b)
				}
			}
			// The swap: the store still takes a PUT to the upload URL.
			if resp, b := sendTo(t, "PUT", created.Upload.URL, html, created.Upload.Headers); resp.StatusCode != 200 {
				t.Fatalf("late PUT of HTML to the upload URL: got %d %s, want the store to take it", resp.StatusCode, b)
			}
			var again struct {
				Status, SHA256 string
			}
			mustDo(t, srv, "POST", "/v1/media/"+id+"/complete", "", guard.Headers(), 200, &again)
			if again.Status != "stored" || again.SHA256 != hexSHA256(photo) {
				t.Fatalf("complete after the swap: got %+v, want stored with the photo's SHA-256", again)
			}
			got := mustGetMedia(t, srv, guard, id)
			resp, b := sendTo(t, "GET", got.URLs.Original, nil, nil)
			if resp.StatusCode != 200 || !bytes.Equal(b, photo) {
				t.Fatalf("download after the swap: status %d, %d bytes, HTML %v; want the verified photo", resp.StatusCode, len(b), bytes.Equal(b, html))
			}
			if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); ct != "image/jpeg" || cd != `attachment; filename="`+id+`.jpg"` {
				t.Errorf("download headers: Content-Type %q, Content-Disposition %q", ct, cd)
			}
			orig, _ := url.Parse(got.URLs.Original)
			up, _ := url.Parse(created.Upload.URL)
			if orig.Path == up.Path {
				t.Fatalf("download and upload share the key %s", orig.Path)
			}
			if got.URLs.Thumbnail == "" {
				t.Fatal("no thumbnail")
			}
			resp, _ = sendTo(t, "GET", got.URLs.Thumbnail, nil, nil)
			if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); resp.StatusCode != 200 || ct != "image/jpeg" || cd != `inline; filename="`+id+`.thumb.jpg"` {
				t.Errorf("thumbnail: status %d, Content-Type %q, Content-Disposition %q", resp.StatusCode, ct, cd)
			}
		})
	}
}

// pngChunk encodes one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(append(b, typ...), data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

// pngIHDR is the header chunk of a w×h PNG of bit depth and color type.
func pngIHDR(w, h uint32, depth, color byte) []byte {
	d := binary.BigEndian.AppendUint32(nil, w)
	d = binary.BigEndian.AppendUint32(d, h)
	return pngChunk("IHDR", append(d, depth, color, 0, 0, 0))
}

// pngBomb is a valid w×h one-bit grey PNG of zeros: a few KB that decode to
// w×h bytes of pixels (8000×8000: 64 MB, and four times that once scaled).
func pngBomb(tb testing.TB, w, h int) []byte {
	tb.Helper()
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	row := make([]byte, 1+(w+7)/8) // filter byte, then the bits
	for range h {
		if _, err := zw.Write(row); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	out := append([]byte("\x89PNG\r\n\x1a\n"), pngIHDR(uint32(w), uint32(h), 1, 0)...)
	out = append(out, pngChunk("IDAT", z.Bytes())...)
	return append(out, pngChunk("IEND", nil)...)
}

// TestDecompressionBombIsNotDecoded: a small PNG of 8000×8000 pixels (64
// Mpx, over the 40 Mpx cap) is stored and verified from its header and
// structure, with its dimensions and no thumbnail, and the server never
// starts decoding its pixels (the media service counts full decodes); a
// real photo is decoded once, for its check and its thumbnail.
func TestDecompressionBombIsNotDecoded(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	d := depsOf(t, srv)
	guard := mustLoginSession(t, srv, "guard.a1", "")
	h := guard.Headers()
	h["Content-Type"] = "image/png"
	upload := func(ct string, body []byte) mediaBody {
		id := uuid.NewString()
		mustDo(t, srv, "POST", "/v1/media", createJSON(id, ct, body), guard.Headers(), 201, nil)
		resp, b := rawRequest(t, srv, "PUT", "/v1/media/"+id+"/content", body, h)
		if resp.StatusCode != 200 {
			t.Fatalf("upload of %d bytes: got %d %s, want 200", len(body), resp.StatusCode, b)
		}
		return mustGetMedia(t, srv, guard, id)
	}

	bomb := pngBomb(t, 8000, 8000)
	t.Logf("the bomb: %d bytes, 8000×8000 pixels", len(bomb))
	before := d.Media.FullDecodes()
	for range 24 { // as many as the finding sent
		got := upload("image/png", bomb)
		if got.Status != "stored" || got.Width != 8000 || got.URLs == nil || got.URLs.Original == "" || got.URLs.Thumbnail != "" {
			t.Fatalf("bomb: got %+v, want stored 8000 wide with an original and no thumbnail", got)
		}
	}
	if n := d.Media.FullDecodes(); n != before {
		t.Fatalf("the server started %d full decodes of the bomb, want none", n-before)
	}
	if got := upload("image/jpeg", testJPEG(t, 64, 48)); got.URLs == nil || got.URLs.Thumbnail == "" {
		t.Fatalf("photo: got %+v, want a thumbnail", got)
	}
	if n := d.Media.FullDecodes(); n != before+1 {
		t.Fatalf("a real photo: %d full decodes, want 1", n-before)
	}
}

// TestHeaderFollowedByHTMLIsRefused: a file that starts like a JPEG, PNG,
// WebP or HEIC and goes on with HTML is not a photo: 422 naming
// content_type and nothing kept, through the API upload and through a
// presigned upload and complete; a well-formed HEIC of the same kind is stored.
func TestHeaderFollowedByHTMLIsRefused(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	d := depsOf(t, srv)
	guard := mustLoginSession(t, srv, "guard.a1", "")
	const page = "<html><script>alert(document.domain)</script></html>"
	jfif := "\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
	bigFrame := "\xFF\xD8\xFF\xC0\x00\x0B\x08\x27\x10\x27\x10\x01\x01\x11\x00\xFF\xDA\x00\x08\x01\x01\x00\x00\x3F\x00"
	png1 := "\x89PNG\r\n\x1a\n" + string(pngIHDR(1, 1, 8, 0))
	pngBig := "\x89PNG\r\n\x1a\n" + string(pngIHDR(10000, 10000, 8, 0))
	webp := func(rest string) string { // RIFF, WEBP, a VP8L chunk of a 1×1 image, then rest
		body := "WEBPVP8L" + string(binary.LittleEndian.AppendUint32(nil, uint32(5+len(rest)))) + "\x2F\x00\x00\x00\x00" + rest
		return "RIFF" + string(binary.LittleEndian.AppendUint32(nil, uint32(len(body)))) + body
	}
	heic := "\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"
	heif := "\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic"
	for _, tc := range []struct{ name, ct, body string }{
		{"jpeg", "image/jpeg", jfif + page},
		{"jpeg over the pixel cap", "image/jpeg", bigFrame + page},
		{"png", "image/png", png1 + page},
		{"png over the pixel cap", "image/png", pngBig + page},
		{"webp", "image/webp", webp(page)},
		{"heic", "image/heic", heic + page},
		{"heif", "image/heif", heif + page},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			id := uuid.NewString()
			mustDo(t, srv, "POST", "/v1/media", createJSON(id, tc.ct, body), guard.Headers(), 201, nil)
			h := guard.Headers()
			h["Content-Type"] = tc.ct
			resp, b := rawRequest(t, srv, "PUT", "/v1/media/"+id+"/content", body, h)
			if resp.StatusCode != 422 || !strings.Contains(string(b), `"field":"content_type"`) {
				t.Fatalf("%d bytes of %s then HTML: got %d %s, want 422 naming content_type", len(body), tc.ct, resp.StatusCode, b)
			}
			assertProblem(t, resp, b)
			if n := objectsNaming(t, d, id); n != 0 {
				t.Fatalf("%d objects of the refused media are kept", n)
			}
		})
	}

	// The presigned way, the 58-byte JPEG of the finding.
	body := []byte(jfif + page)
	id := uuid.NewString()
	var created mediaBody
	mustDo(t, srv, "POST", "/v1/media", createJSON(id, "image/jpeg", body), guard.Headers(), 201, &created)
	if resp, b := sendTo(t, "PUT", created.Upload.URL, body, created.Upload.Headers); resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %d %s", resp.StatusCode, b)
	}
	scenario{method: "POST", url: "/v1/media/" + id + "/complete", headers: guard.Headers(), status: 422,
		contains: []string{`"code":"unprocessable"`, `"field":"content_type"`}}.run(t, srv)
	scenario{method: "POST", url: "/v1/media/" + id + "/complete", headers: guard.Headers(), status: 409,
		contains: []string{`"code":"not_uploaded"`}}.run(t, srv)
	if n := objectsNaming(t, d, id); n != 0 {
		t.Fatalf("%d objects of the refused media are kept", n)
	}
}

// objectsNaming counts the objects whose key names media id.
func objectsNaming(tb testing.TB, d *fullDeps, id string) int {
	tb.Helper()
	n := 0
	for obj := range d.Objects.Client.ListObjects(context.Background(), d.Objects.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			tb.Fatal(obj.Err)
		}
		if strings.Contains(obj.Key, id) {
			n++
		}
	}
	return n
}
