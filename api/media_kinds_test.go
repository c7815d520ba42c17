package api_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// kindSamples are media/testdata's real files, read before the embedded
// object store changes the working directory.
var kindSamples = func() map[string][]byte {
	out := map[string][]byte{}
	dir, _ := filepath.Abs(filepath.Join("..", "media", "testdata"))
	for _, f := range []string{"sample.mp4", "sample.mov", "sample.m4a", "sample.amr", "sample.opus", "sample.pdf"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err == nil {
			out[f] = b
		}
	}
	return out
}()

// TestNewKindsOverHTTP: every new kind is stored from real bytes through the
// API with its kind; a file renamed to another kind's type is 422 naming
// content_type.
func TestNewKindsOverHTTP(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	guard := mustLoginSession(t, srv, "guard.a1", "")
	for _, c := range []struct{ file, ct, kind, renamed string }{
		{"sample.mp4", "video/mp4", "video", "application/pdf"},
		{"sample.mov", "video/quicktime", "video", "video/mp4"},
		{"sample.m4a", "audio/mp4", "audio", "video/mp4"},
		{"sample.amr", "audio/amr", "audio", "audio/ogg"},
		{"sample.opus", "audio/ogg", "audio", "audio/amr"},
		{"sample.pdf", "application/pdf", "document", "audio/mp4"},
	} {
		body, ok := kindSamples[c.file]
		if !ok {
			t.Fatalf("missing media/testdata/%s", c.file)
		}
		upload := func(ct string) (int, string) {
			id := uuid.NewString()
			mustDo(t, srv, "POST", "/v1/media", createJSON(id, ct, body), guard.Headers(), 201, nil)
			h := guard.Headers()
			h["Content-Type"] = ct
			resp, b := rawRequest(t, srv, "PUT", "/v1/media/"+id+"/content", body, h)
			return resp.StatusCode, string(b)
		}
		if st, b := upload(c.ct); st != 200 || !strings.Contains(b, fmt.Sprintf(`"kind":%q`, c.kind)) {
			t.Errorf("%s as %s: got %d %s, want 200 a stored %s", c.file, c.ct, st, b, c.kind)
		}
		if st, b := upload(c.renamed); st != 422 || !strings.Contains(b, `content_type`) {
			t.Errorf("%s renamed %s: got %d %s, want 422 naming content_type", c.file, c.renamed, st, b)
		}
	}
}
