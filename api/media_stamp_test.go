package api_test

import (
	"bytes"
	"image/jpeg"
	"testing"

	"github.com/google/uuid"
)

// TestStampedImageOverHTTP: the uploader reads the stamped JPEG (no EXIF,
// inline), another site's guard gets 404, unknown ids 404.
func TestStampedImageOverHTTP(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	guard := mustLoginSession(t, srv, "guard.a1", "")
	other := mustLoginSession(t, srv, "guard.b1", "")
	photo := testJPEG(t, 640, 480)
	id := uuid.NewString()
	mustDo(t, srv, "POST", "/v1/media", createJSON(id, "image/jpeg", photo), guard.Headers(), 201, nil)
	h := guard.Headers()
	h["Content-Type"] = "image/jpeg"
	if resp, b := rawRequest(t, srv, "PUT", "/v1/media/"+id+"/content", photo, h); resp.StatusCode != 200 {
		t.Fatalf("upload: %d %s", resp.StatusCode, b)
	}
	resp, b := rawRequest(t, srv, "GET", "/v1/media/"+id+"/stamped", nil, guard.Headers())
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" ||
		resp.Header.Get("Content-Disposition") != `inline; filename="`+id+`.stamped.jpg"` {
		t.Fatalf("stamped: got %d %v", resp.StatusCode, resp.Header)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(b)); err != nil || cfg.Width != 640 || bytes.Contains(b, []byte("Exif")) {
		t.Fatalf("stamped: got %+v, %v; want a 640 px JPEG without EXIF", cfg, err)
	}
	scenario{method: "GET", url: "/v1/media/" + id + "/stamped", headers: other.Headers(), status: 404}.run(t, srv)
	scenario{method: "GET", url: "/v1/media/" + uuid.NewString() + "/stamped", headers: guard.Headers(), status: 404}.run(t, srv)
}
