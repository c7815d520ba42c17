package media

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"io"
	"time"

	"fieldsync"

	"github.com/minio/minio-go/v7"
	"golang.org/x/image/draw"
)

// maxThumbPixels refuses to decode images larger than this (decompression bombs).
const maxThumbPixels = 64 << 20

// thumbTimeout bounds making one thumbnail.
const thumbTimeout = 2 * time.Minute

// thumbnailLater makes m's thumbnail in the background: the request that
// stored the media does not wait for it. A crash before it ends leaves the
// media ThumbPending, and the sweep makes it later.
func (s *Service) thumbnailLater(m fieldsync.Media) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), thumbTimeout)
		defer cancel()
		if err := s.makeThumbnail(ctx, &m); err != nil {
			s.log.Warn("media: thumbnail", "media_id", m.ID, "tenant", m.TenantID, "err", err)
		}
	}()
}

// makeThumbnail decodes the original (never changed: it is the evidence),
// scales it to ThumbnailSize on its longest side, upright per EXIF, and
// stores it as a JPEG. Re-encoding writes no metadata, so the thumbnail
// carries no location.
func (s *Service) makeThumbnail(ctx context.Context, m *fieldsync.Media) error {
	select {
	case s.thumbs <- struct{}{}:
		defer func() { <-s.thumbs }()
	case <-ctx.Done():
		return ctx.Err()
	}
	obj, err := s.objects.Client.GetObject(ctx, s.objects.Bucket, m.Key, minio.GetObjectOptions{})
	if err != nil {
		return MapError(err)
	}
	defer obj.Close()
	thumb, w, h, err := Thumbnail(obj, s.opts.ThumbnailSize)
	now := s.opts.Now().UTC()
	if isStoreDown(err) {
		return err // try again at the next sweep
	}
	if err != nil {
		s.log.Info("media: no thumbnail", "media_id", m.ID, "err", err)
		return s.store.SetThumbnail(ctx, m.TenantID, m.ID, fieldsync.ThumbNone, "", w, h, now)
	}
	key := thumbKey(m.Key)
	if _, err := s.objects.Client.PutObject(ctx, s.objects.Bucket, key, bytes.NewReader(thumb), int64(len(thumb)), putOptions(TypeJPEG)); err != nil {
		return MapError(err)
	}
	return s.store.SetThumbnail(ctx, m.TenantID, m.ID, fieldsync.ThumbDone, key, w, h, now)
}

// Thumbnail decodes a JPEG, PNG or WebP image and returns a JPEG at most size
// pixels on its longest side, turned upright per its EXIF orientation, with
// no metadata; and the original's dimensions (0 when unknown). It reads r
// three times from the start (header, EXIF, pixels), never holding the
// encoded original whole, and refuses to decode more than 64 Mpx.
func Thumbnail(r io.ReadSeeker, size int) (thumb []byte, width, height int, err error) {
	cfg, _, err := image.DecodeConfig(r)
	if err != nil {
		return nil, 0, 0, err
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxThumbPixels {
		return nil, cfg.Width, cfg.Height, fieldsync.Errorf(fieldsync.EUnprocessable, "image too large to decode")
	}
	head := make([]byte, headSize)
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, cfg.Width, cfg.Height, err
	}
	n, err := io.ReadFull(r, head)
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil, cfg.Width, cfg.Height, err
	}
	x, _ := ParseEXIF(exifBlock(head[:n]))
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, cfg.Width, cfg.Height, err
	}
	src, _, err := image.Decode(r)
	if err != nil {
		return nil, cfg.Width, cfg.Height, err
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	tw, th := w, h
	if max(w, h) > size {
		if w >= h {
			tw, th = size, max(1, h*size/w)
		} else {
			tw, th = max(1, w*size/h), size
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, tw, th))
	draw.ApproxBiLinear.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
	out := orient(dst, x.Orientation)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, out, &jpeg.Options{Quality: 80}); err != nil {
		return nil, cfg.Width, cfg.Height, err
	}
	return buf.Bytes(), cfg.Width, cfg.Height, nil
}

// orient applies an EXIF orientation (1-8) to img.
func orient(img *image.RGBA, o int) image.Image {
	if o <= 1 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := range h {
		for x := range w {
			var dx, dy int
			switch o {
			case 2:
				dx, dy = w-1-x, y
			case 3:
				dx, dy = w-1-x, h-1-y
			case 4:
				dx, dy = x, h-1-y
			case 5:
				dx, dy = y, x
			case 6:
				dx, dy = h-1-y, x
			case 7:
				dx, dy = h-1-y, w-1-x
			case 8:
				dx, dy = y, w-1-x
			}
			dst.SetRGBA(dx, dy, img.RGBAAt(x, y))
		}
	}
	return dst
}
