package media

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"image"
	_ "image/jpeg" // DecodeConfig of JPEG
	_ "image/png"  // DecodeConfig of PNG
	"io"

	"fieldsync"

	_ "golang.org/x/image/webp" // DecodeConfig and Decode of WebP
)

// Content types accepted as photo evidence.
const (
	TypeJPEG = "image/jpeg"
	TypePNG  = "image/png"
	TypeWebP = "image/webp"
	TypeHEIC = "image/heic"
	TypeHEIF = "image/heif"
)

// ContentTypes lists the accepted declared content types.
var ContentTypes = []string{TypeJPEG, TypePNG, TypeWebP, TypeHEIC, TypeHEIF}

// headSize is how many leading bytes verification keeps: enough to sniff the
// type and, in the usual layout, to read the EXIF block and the dimensions.
const headSize = 256 << 10

// Sniff returns the content type the bytes really are (from their leading
// bytes), or "" when they are none of the accepted image types. HEIF files
// whose brand is HEVC-coded are reported as image/heic, others as image/heif.
func Sniff(head []byte) string {
	switch {
	case len(head) >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF:
		return TypeJPEG
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return TypePNG
	case len(head) >= 12 && string(head[0:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return TypeWebP
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		switch string(head[8:12]) {
		case "heic", "heix", "hevc", "hevx", "heim", "heis":
			return TypeHEIC
		case "mif1", "msf1":
			return TypeHEIF
		}
	}
	return ""
}

// sameType reports whether the sniffed type satisfies the declared one. HEIC
// and HEIF are one family: phones label HEVC-coded HEIF either way.
func sameType(declared, sniffed string) bool {
	if declared == sniffed {
		return true
	}
	heif := func(t string) bool { return t == TypeHEIC || t == TypeHEIF }
	return heif(declared) && heif(sniffed)
}

// observer hashes and counts what passes through it and keeps the first headSize bytes.
type observer struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	head []byte
	eof  bool // the underlying reader ended
}

func newObserver(r io.Reader) *observer {
	return &observer{r: r, h: sha256.New(), head: make([]byte, 0, 64<<10)}
}

func (o *observer) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	if n > 0 {
		o.h.Write(p[:n])
		o.n += int64(n)
		if room := headSize - len(o.head); room > 0 {
			o.head = append(o.head, p[:min(n, room)]...)
		}
	}
	if err == io.EOF {
		o.eof = true
	}
	return n, err
}

// observed is what the server saw of an object's bytes.
type observed struct {
	size   int64
	sha256 string
	head   []byte
}

func (o *observer) result() observed {
	return observed{size: o.n, sha256: hex.EncodeToString(o.h.Sum(nil)), head: o.head}
}

func unprocessable(field, format string, args ...any) error {
	e := fieldsync.Errorf(fieldsync.EUnprocessable, format, args...)
	e.Field = field
	return e
}

// verify checks the bytes seen against what the uploader declared.
func verify(m *fieldsync.Media, got observed, maxBytes int64) error {
	switch {
	case got.size > maxBytes:
		return unprocessable("size", "object is larger than %d bytes", maxBytes)
	case got.size != m.Size:
		return unprocessable("size", "object has %d bytes, declared %d", got.size, m.Size)
	case got.sha256 != m.SHA256:
		return unprocessable("sha256", "object SHA-256 does not match the declared one")
	}
	sniffed := Sniff(got.head)
	if sniffed == "" {
		return unprocessable("content_type", "object is not a JPEG, PNG, WebP or HEIC image")
	}
	if !sameType(m.ContentType, sniffed) {
		return unprocessable("content_type", "object is %s, declared %s", sniffed, m.ContentType)
	}
	return nil
}

// describe fills what the leading bytes tell about a verified image:
// dimensions and the EXIF capture time and position when present.
func describe(m *fieldsync.Media, head []byte) {
	if m.ContentType != TypeHEIC && m.ContentType != TypeHEIF {
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(head)); err == nil {
			m.Width, m.Height = cfg.Width, cfg.Height
		}
	}
	if x, ok := ParseEXIF(exifBlock(head)); ok {
		m.TakenAt, m.GPS = x.TakenAt, x.GPS
	}
}
