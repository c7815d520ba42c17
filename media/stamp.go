package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"strings"
	"sync"

	"fieldsync"

	"github.com/minio/minio-go/v7"
	"golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// StampSize is the longest side of a stamped image, in pixels.
const StampSize = 1600

// Labeler names what a stamp shows beside the photo's own capture time and
// GPS: the site's name and the place of the record citing the photo (its
// location or checkpoint). Wiring implements it over the synced records.
type Labeler interface {
	// StampLabels returns the name of tenant's site and the place of rec
	// (nil: no citing record); empty strings when unknown.
	StampLabels(ctx context.Context, tenant, site string, rec *fieldsync.RecordRef) (siteName, place string, err error)
}

// stampLines builds the stamp of m: capture time (EXIF, else the time the
// server stored it, marked so), site, record and place, GPS.
func stampLines(m *fieldsync.Media, siteName, place string, rec *fieldsync.RecordRef) []string {
	var lines []string
	switch {
	case m.TakenAt != nil:
		lines = append(lines, "Taken "+m.TakenAt.UTC().Format("2006-01-02 15:04:05")+" UTC")
	case m.StoredAt != nil:
		lines = append(lines, "Received "+m.StoredAt.UTC().Format("2006-01-02 15:04:05")+" UTC (no capture time)")
	}
	site := siteName
	if site == "" {
		site = m.SiteID
	}
	where := "Site " + site
	if place != "" {
		where += " · " + place
	}
	lines = append(lines, where)
	if rec != nil {
		lines = append(lines, fmt.Sprintf("%s %s", rec.Collection, rec.ID))
	}
	if m.GPS != nil {
		lines = append(lines, fmt.Sprintf("GPS %.6f, %.6f", m.GPS.Lat, m.GPS.Lon))
	} else {
		lines = append(lines, "GPS none in the photo")
	}
	lines = append(lines, "fieldsync "+m.ID+" sha256 "+m.SHA256[:min(16, len(m.SHA256))])
	return lines
}

var (
	stampFontOnce sync.Once
	stampFont     *opentype.Font
	stampFontErr  error
)

// ParseFont parses a TrueType or OpenType font file, or the first font of a
// collection (.ttc), for Options.StampFont.
func ParseFont(b []byte) (*opentype.Font, error) {
	f, err := opentype.Parse(b)
	if err == nil {
		return f, nil
	}
	c, cerr := opentype.ParseCollection(b)
	if cerr != nil {
		return nil, fmt.Errorf("media: font: %w", err)
	}
	return c.Font(0)
}

// stampFace is the Go Bold font (BSD licence, bundled with
// golang.org/x/image) at size pixels, which has Latin, Greek and Cyrillic
// glyphs, falling back rune by rune to extra (Options.StampFont, a CJK font
// the operator installs) when given; without it Chinese names show as boxes.
func stampFace(size float64, extra *opentype.Font) (font.Face, error) {
	stampFontOnce.Do(func() { stampFont, stampFontErr = opentype.Parse(gobold.TTF) })
	if stampFontErr != nil {
		return nil, stampFontErr
	}
	opts := &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull}
	base, err := opentype.NewFace(stampFont, opts)
	if err != nil || extra == nil {
		return base, err
	}
	more, err := opentype.NewFace(extra, opts)
	if err != nil {
		base.Close()
		return nil, err
	}
	return fallbackFace{base, more}, nil
}

// fallbackFace draws each rune with the first face that has a glyph for it.
type fallbackFace []font.Face

func (f fallbackFace) pick(r rune) font.Face {
	for _, x := range f {
		if _, ok := x.GlyphAdvance(r); ok {
			return x
		}
	}
	return f[0]
}

func (f fallbackFace) Glyph(dot fixed.Point26_6, r rune) (image.Rectangle, image.Image, image.Point, fixed.Int26_6, bool) {
	return f.pick(r).Glyph(dot, r)
}

func (f fallbackFace) GlyphBounds(r rune) (fixed.Rectangle26_6, fixed.Int26_6, bool) {
	return f.pick(r).GlyphBounds(r)
}

func (f fallbackFace) GlyphAdvance(r rune) (fixed.Int26_6, bool) { return f.pick(r).GlyphAdvance(r) }

// Kern is zero: kerning across two fonts means nothing.
func (f fallbackFace) Kern(r0, r1 rune) fixed.Int26_6 { return 0 }

func (f fallbackFace) Metrics() font.Metrics { return f[0].Metrics() }

func (f fallbackFace) Close() error {
	for _, x := range f {
		x.Close()
	}
	return nil
}

// Stamped renders media id's photo, upright, at most StampSize pixels on its
// longest side, with a band of text at its foot: capture time, site and the
// place of the citing record, the record, GPS. Callers are those who may
// read the media (Get). It is a JPEG re-encoded without any metadata; the
// original stays untouched. Errors: not_found (no such media for the caller,
// or not a photo that can be decoded: HEIC, video, audio, PDF, over the
// pixel cap), not_uploaded (not stored yet), unavailable.
func (s *Service) Stamped(ctx context.Context, id string) ([]byte, error) {
	v, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	m := &v.Media
	if m.Status != fieldsync.MediaStored {
		return nil, fieldsync.Errorf(fieldsync.ENotUploaded, "not stored yet")
	}
	if !isImage(m.ContentType) {
		return nil, fieldsync.Errorf(fieldsync.ENotFound, "no stamped image for %s", m.ContentType)
	}
	caller := fieldsync.CallerFromContext(ctx)
	rec, err := s.citingRecord(ctx, caller, m)
	if err != nil {
		return nil, err
	}
	var siteName, place string
	if s.opts.Labels != nil {
		if siteName, place, err = s.opts.Labels.StampLabels(ctx, m.TenantID, m.SiteID, rec); err != nil {
			return nil, err
		}
	}
	lines := stampLines(m, siteName, place, rec)

	obj, err := s.objects.Client.GetObject(ctx, s.objects.Bucket, m.Key, minio.GetObjectOptions{})
	if err != nil {
		return nil, MapError(err)
	}
	defer obj.Close()
	head := make([]byte, headSize)
	n, err := io.ReadFull(obj, head)
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil, MapError(err)
	}
	if _, err := obj.Seek(0, io.SeekStart); err != nil {
		return nil, MapError(err)
	}
	x, _ := ParseEXIF(exifBlock(head[:n]))
	var out []byte
	_, err = s.decode(ctx, obj, func(img image.Image) (err error) {
		out, err = stampImage(img, x.Orientation, lines, s.opts.StampFont)
		return err
	})
	switch {
	case err == nil:
		return out, nil
	case isStoreDown(err):
		return nil, MapError(err)
	}
	var fe *fieldsync.Error
	if errors.As(err, &fe) {
		return nil, err
	}
	return nil, fieldsync.WrapError(fieldsync.ENotFound, "no stamped image for this photo (too large to decode)", err)
}

// citingRecord is a record citing m that grants caller reading it, the
// newest first; nil when the caller reads m as its uploader only.
func (s *Service) citingRecord(ctx context.Context, caller *fieldsync.Caller, m *fieldsync.Media) (*fieldsync.RecordRef, error) {
	cites, err := s.citations.Citing(ctx, m.TenantID, []string{m.ID})
	if err != nil {
		return nil, err
	}
	var best *fieldsync.RecordRef
	now := s.opts.Now()
	for i := range cites {
		c := cites[i]
		if fieldsync.CitationGrants(caller, m, c, now) && (best == nil || c.Record.CreatedAt.After(best.CreatedAt)) {
			best = &c.Record
		}
	}
	return best, nil
}

// stampImage scales img to StampSize, turns it upright and draws lines in a
// dark band at its foot; the JPEG carries no metadata.
func stampImage(img image.Image, orientation int, lines []string, extra *opentype.Font) ([]byte, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	tw, th := w, h
	if max(w, h) > StampSize {
		if w >= h {
			tw, th = StampSize, max(1, h*StampSize/w)
		} else {
			tw, th = max(1, w*StampSize/h), StampSize
		}
	}
	scaled := image.NewRGBA(image.Rect(0, 0, tw, th))
	draw.ApproxBiLinear.Scale(scaled, scaled.Bounds(), img, b, draw.Src, nil)
	up := orient(scaled, orientation)
	dst, ok := up.(*image.RGBA)
	if !ok {
		dst = image.NewRGBA(up.Bounds())
		draw.Draw(dst, dst.Bounds(), up, up.Bounds().Min, draw.Src)
	}
	W, H := dst.Bounds().Dx(), dst.Bounds().Dy()
	size := max(10, float64(min(W, H))/28)
	face, err := stampFace(size, extra)
	if err != nil {
		return nil, err
	}
	defer face.Close()
	lineH := int(size * 1.3)
	pad := int(size / 2)
	band := min(H, pad*2+lineH*len(lines))
	draw.Draw(dst, image.Rect(0, H-band, W, H), image.NewUniform(color.RGBA{0, 0, 0, 170}), image.Point{}, draw.Over)
	d := font.Drawer{Dst: dst, Src: image.NewUniform(color.RGBA{255, 255, 255, 255}), Face: face}
	for i, l := range lines {
		d.Dot = fixed.P(pad, H-band+pad+lineH*i+int(size))
		d.DrawString(fitLine(d, l, W-2*pad))
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 85}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// fitLine shortens l with an ellipsis until it fits width pixels.
func fitLine(d font.Drawer, l string, width int) string {
	if d.MeasureString(l).Ceil() <= width {
		return l
	}
	r := []rune(l)
	for len(r) > 1 {
		r = r[:len(r)-1]
		s := strings.TrimSpace(string(r)) + "…"
		if d.MeasureString(s).Ceil() <= width {
			return s
		}
	}
	return ""
}
