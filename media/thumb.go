package media

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"io"
	"time"

	"fieldsync"

	"github.com/minio/minio-go/v7"
	"golang.org/x/image/draw"
)

// DefaultMaxPixels is the largest image (width × height) the server decodes:
// 40 megapixels, about 160 MB of pixels at most while it is scaled. Photos
// beyond it are stored and verified from their headers and structure, with
// no thumbnail; a 265 KB PNG claiming 8000×8000 costs a header read, not 256 MB.
const DefaultMaxPixels = 40_000_000

// thumbTimeout bounds making one thumbnail later (sweep backlog).
const thumbTimeout = 2 * time.Minute

// errTooManyPixels: the header says the image is larger than the decode cap.
var errTooManyPixels = errors.New("media: image has more pixels than the decode cap")

// decoded is what decoding a photo's header told: its dimensions.
type decoded struct{ width, height int }

// decode reads the header of the image in r (DecodeConfig: a few KB, no
// pixels), and when it holds at most MaxPixels, decodes it whole and hands the
// pixels to use, all while holding one of MaxDecodes slots, so concurrent
// uploads cannot multiply the memory. An image over the cap answers its
// dimensions and errTooManyPixels, without decoding any pixel.
func (s *Service) decode(ctx context.Context, r io.ReadSeeker, use func(image.Image) error) (decoded, error) {
	cfg, _, err := image.DecodeConfig(r)
	if err != nil {
		return decoded{}, err
	}
	d := decoded{width: cfg.Width, height: cfg.Height}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > s.opts.MaxPixels {
		return d, errTooManyPixels
	}
	select {
	case s.decodes <- struct{}{}:
		defer func() { <-s.decodes }()
	case <-ctx.Done():
		return d, MapError(ctx.Err())
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return d, err
	}
	s.fullDecodes.Add(1)
	img, _, err := image.Decode(r)
	if err != nil {
		return d, err
	}
	return d, use(img)
}

// FullDecodes counts the images this service has started decoding whole
// (every decode of pixels goes through the pixel cap and the slots first).
func (s *Service) FullDecodes() int64 { return s.fullDecodes.Load() }

// makeThumbnail decodes the stored original (never changed: it is the
// evidence) within the pixel cap and stores its thumbnail; an image that
// cannot be decoded, or is over the cap, gets ThumbNone.
func (s *Service) makeThumbnail(ctx context.Context, m *fieldsync.Media) error {
	obj, err := s.objects.Client.GetObject(ctx, s.objects.Bucket, m.Key, minio.GetObjectOptions{})
	if err != nil {
		return MapError(err)
	}
	defer obj.Close()
	head := make([]byte, headSize)
	n, err := io.ReadFull(obj, head)
	if err != nil && err != io.ErrUnexpectedEOF {
		return MapError(err)
	}
	if _, err := obj.Seek(0, io.SeekStart); err != nil {
		return MapError(err)
	}
	x, _ := ParseEXIF(exifBlock(head[:n]))
	var thumb []byte
	d, err := s.decode(ctx, obj, func(img image.Image) (err error) {
		thumb, err = thumbnailOf(img, s.opts.ThumbnailSize, x.Orientation)
		return err
	})
	now := s.opts.Now().UTC()
	if isStoreDown(err) {
		return err // try again at the next sweep
	}
	if err != nil {
		s.log.Info("media: no thumbnail", "media_id", m.ID, "err", err)
		return s.store.SetThumbnail(ctx, m.TenantID, m.ID, fieldsync.ThumbNone, "", d.width, d.height, now)
	}
	key, err := s.putThumbnail(ctx, m, thumb)
	if err != nil {
		return err
	}
	return s.store.SetThumbnail(ctx, m.TenantID, m.ID, fieldsync.ThumbDone, key, d.width, d.height, now)
}

// putThumbnail stores a thumbnail of m and returns its key.
func (s *Service) putThumbnail(ctx context.Context, m *fieldsync.Media, thumb []byte) (string, error) {
	key := thumbKey(m.Key)
	_, err := s.objects.Client.PutObject(ctx, s.objects.Bucket, key, bytes.NewReader(thumb), int64(len(thumb)), putOptions(TypeJPEG))
	return key, MapError(err)
}

// Thumbnail decodes a JPEG, PNG or WebP image of at most DefaultMaxPixels and
// returns a JPEG at most size pixels on its longest side, turned upright per
// its EXIF orientation, with no metadata; and the original's dimensions (0
// when unknown). It reads r from the start three times (header, EXIF, pixels).
func Thumbnail(r io.ReadSeeker, size int) (thumb []byte, width, height int, err error) {
	cfg, _, err := image.DecodeConfig(r)
	if err != nil {
		return nil, 0, 0, err
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > DefaultMaxPixels {
		return nil, cfg.Width, cfg.Height, errTooManyPixels
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
	thumb, err = thumbnailOf(src, size, x.Orientation)
	return thumb, cfg.Width, cfg.Height, err
}

// thumbnailOf scales src to size pixels on its longest side, turns it
// upright per the EXIF orientation and encodes it as a JPEG. Re-encoding
// writes no metadata, so the thumbnail carries no location.
func thumbnailOf(src image.Image, size, orientation int) ([]byte, error) {
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
	out := orient(dst, orientation)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, out, &jpeg.Options{Quality: 80}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
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
