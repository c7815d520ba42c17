package media_test

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"os"
	"testing"

	"fieldsync"
	"fieldsync/media"
)

type labels struct{ site, place string }

func (l labels) StampLabels(_ context.Context, _, _ string, _ *fieldsync.RecordRef) (string, string, error) {
	return l.site, l.place, nil
}

// TestStampedImage: a reader of a cited photo gets it upright, scaled, with
// a visible stamp at its foot and no EXIF; others get 404; kinds that are
// not decoded have no stamped image.
func TestStampedImage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{Labels: labels{site: "Harbour View 海景", place: "Block 3 gate"}})
	exif := tiffEXIF("2026:11:20 14:30:05", "+08:00", [3]uint32{31, 14, 24}, [3]uint32{121, 28, 12}, 6)
	body := jpegBytes(t, 2400, 1500, exif)
	m := mustStore(t, e, guardA, media.TypeJPEG, body)
	e.cites.Cite(m.ID, inspection("s1", guardA.UserID))

	out, err := e.svc.Stamped(as(agentA), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("Exif")) {
		t.Fatal("stamped image carries EXIF")
	}
	img, err := jpeg.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	// Orientation 6: the 2400×1500 picture upright and scaled is 1000×1600.
	if b := img.Bounds(); b.Dx() != 1000 || b.Dy() != 1600 {
		t.Fatalf("got %v, want 1000×1600", b)
	}
	if white := brightPixels(img, image.Rect(0, 1400, 1000, 1600)); white < 500 {
		t.Fatalf("got %d bright pixels in the stamp band, want text", white)
	}
	if dir := os.Getenv("FIELDSYNC_STAMP_OUT"); dir != "" {
		_ = os.WriteFile(dir+"/stamped.jpg", out, 0o644)
	}
	if _, err := e.svc.Stamped(as(guardB), m.ID); fieldsync.ErrorCode(err) != fieldsync.ENotFound {
		t.Fatalf("another site's guard: got %v, want not_found", err)
	}
	pdf := mustStore(t, e, guardA, media.TypePDF, readSample(t, "sample.pdf"))
	if _, err := e.svc.Stamped(as(guardA), pdf.ID); fieldsync.ErrorCode(err) != fieldsync.ENotFound {
		t.Fatalf("a PDF: got %v, want not_found", err)
	}
}

// brightPixels counts near-white pixels of r in img.
func brightPixels(img image.Image, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if cr > 0xE000 && cg > 0xE000 && cb > 0xE000 {
				n++
			}
		}
	}
	return n
}

// cjkFont is a CJK font the machine may have (Debian's fonts-droid-fallback, Apache 2.0).
const cjkFont = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"

// TestStampedImageDrawsChineseWithAFont: with a CJK font configured, a
// Chinese site name is drawn with it instead of boxes — the stamp band
// differs from the one drawn with the bundled font alone.
func TestStampedImageDrawsChineseWithAFont(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(cjkFont)
	if err != nil {
		t.Fatalf("no CJK font at %s: ./scripts/test installs it (apt-get install fonts-droid-fallback): %v", cjkFont, err)
	}
	f, err := media.ParseFont(b)
	if err != nil {
		t.Fatal(err)
	}
	lab := labels{site: "海景花园 Harbour View"}
	plain := newEnv(t, media.Options{Labels: lab})
	withFont := media.NewService(plain.store, plain.objects, plain.cites, media.Options{Labels: lab, StampFont: f})
	body := jpegBytes(t, 800, 600, nil)
	m := mustStore(t, plain, guardA, media.TypeJPEG, body)
	boxes, err := plain.svc.Stamped(as(guardA), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	drawn, err := withFont.Stamped(as(guardA), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("FIELDSYNC_STAMP_OUT"); dir != "" {
		_ = os.WriteFile(dir+"/stamped-cjk.jpg", drawn, 0o644)
	}
	a, _ := jpeg.Decode(bytes.NewReader(boxes))
	c, _ := jpeg.Decode(bytes.NewReader(drawn))
	band := image.Rect(0, 450, 800, 600)
	if brightPixels(a, band) == brightPixels(c, band) {
		t.Fatal("the stamp drawn with the CJK font is the same as with boxes")
	}
}
