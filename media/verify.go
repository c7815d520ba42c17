package media

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"image"
	_ "image/jpeg" // DecodeConfig of JPEG
	_ "image/png"  // DecodeConfig of PNG
	"io"

	"fieldsync"

	"github.com/minio/minio-go/v7"
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

// ContentTypes lists the accepted declared content types, of every kind.
var ContentTypes = []string{TypeJPEG, TypePNG, TypeWebP, TypeHEIC, TypeHEIF, TypeMP4, TypeMOV, TypeM4A, TypeAMR, TypeAMRW, TypeOgg, TypePDF}

// headSize is how many leading bytes verification keeps of a photo: enough
// to sniff the type and, in the usual layout, to read the EXIF block and the
// dimensions. Of the other kinds it keeps sniffSize: their type shows in
// the first few hundred bytes, and their EXIF is not read.
const (
	headSize  = 256 << 10
	sniffSize = 4 << 10
)

// headSizeOf is how many leading bytes verification keeps of m.
func headSizeOf(m *fieldsync.Media) int {
	if k := mediaKind(m); k == fieldsync.KindPhoto || k == fieldsync.KindSignature {
		return headSize
	}
	return sniffSize
}

// Sniff returns the content type the bytes really are (from their leading
// bytes), or "" when they are none of the accepted types. HEIF files
// whose brand is HEVC-coded are reported as image/heic, others as image/heif;
// ISO-BMFF files by their major brand (qt → MOV, M4A → audio/mp4, the
// generic MP4 brands → video/mp4).
func Sniff(head []byte) string {
	switch {
	case len(head) >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF:
		return TypeJPEG
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return TypePNG
	case len(head) >= 12 && string(head[0:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return TypeWebP
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		return sniffISOBMFF(string(head[8:12]))
	}
	return sniffOther(head)
}

// sameType reports whether the sniffed type satisfies the declared one. HEIC
// and HEIF are one family: phones label HEVC-coded HEIF either way.
func sameType(declared, sniffed string) bool {
	if declared == sniffed {
		return true
	}
	heif := func(t string) bool { return t == TypeHEIC || t == TypeHEIF }
	return heif(declared) && heif(sniffed) || sameFamily(declared, sniffed)
}

// observer hashes and counts what passes through it and keeps its first
// cap(head) bytes.
type observer struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	head []byte
	eof  bool  // the underlying reader ended
	err  error // the underlying reader failed (the object store)
}

func newObserver(r io.Reader, headLen int) *observer {
	return &observer{r: r, h: sha256.New(), head: make([]byte, 0, headLen)}
}

func (o *observer) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	if n > 0 {
		o.h.Write(p[:n])
		o.n += int64(n)
		if room := cap(o.head) - len(o.head); room > 0 {
			o.head = append(o.head, p[:min(n, room)]...)
		}
	}
	if err == io.EOF {
		o.eof = true
	} else if err != nil && o.err == nil {
		o.err = err
	}
	return n, err
}

// observed is what the server saw of an object's bytes.
type observed struct {
	size   int64
	sha256 string
	head   []byte
	// structureRead: the file's structure was checked in the same read
	// (kinds that are not decoded), with structureErr its outcome.
	structureRead bool
	structureErr  error
}

// read streams the object at key once: size, SHA-256 and leading bytes, and
// for the kinds that are not decoded (HEIC, video, audio, PDF) the structure
// check on the same bytes, so a 50 MiB video is read once, not twice.
// The object is fetched ahead on a goroutine of its own, so the network
// copy overlaps with the hashing. Errors are the object store's.
func (s *Service) read(ctx context.Context, m *fieldsync.Media, key string) (observed, error) {
	body, _, _, err := s.core().GetObject(ctx, s.objects.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return observed{}, err
	}
	ahead := newReadAhead(io.LimitReader(body, m.Size+1))
	defer func() {
		body.Close() // first: it ends a read the goroutine is blocked in
		ahead.close()
	}()
	obs := newObserver(ahead, headSizeOf(m))
	br := bufio.NewReaderSize(obs, 64<<10)
	var structureErr error
	check := !isImage(m.ContentType)
	if check {
		structureErr = checkStructure(br, m.ContentType, m.Size)
	}
	if err := skip(br, m.Size+1); err != nil && err != io.ErrUnexpectedEOF {
		return observed{}, err
	}
	if obs.err != nil {
		return observed{}, obs.err
	}
	got := obs.result()
	got.structureRead, got.structureErr = check, structureErr
	return got, nil
}

// verifyBuffer is the size of the reads from the object store of a
// verification: a 50 MiB object takes a few hundred, not thousands.
const verifyBuffer = 128 << 10

// readAhead reads r on a goroutine of its own into a few buffers of
// verifyBuffer bytes, one step ahead of its reader.
type readAhead struct {
	full chan aheadChunk
	free chan []byte
	stop chan struct{}
	done chan struct{}
	cur  []byte // what is left of the chunk being read
	buf  []byte // that chunk's buffer, returned to free once read
	err  error
}

type aheadChunk struct {
	b   []byte
	err error
}

// aheadBuffers is how many buffers a readAhead fills before its reader takes them.
const aheadBuffers = 2

func newReadAhead(r io.Reader) *readAhead {
	a := &readAhead{full: make(chan aheadChunk, aheadBuffers), free: make(chan []byte, aheadBuffers),
		stop: make(chan struct{}), done: make(chan struct{})}
	for range aheadBuffers {
		a.free <- make([]byte, verifyBuffer)
	}
	go a.fill(r)
	return a
}

func (a *readAhead) fill(r io.Reader) {
	defer close(a.done)
	for {
		var buf []byte
		select {
		case buf = <-a.free:
		case <-a.stop:
			return
		}
		n, err := io.ReadFull(r, buf)
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		select {
		case a.full <- aheadChunk{b: buf[:n], err: err}:
		case <-a.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (a *readAhead) Read(p []byte) (int, error) {
	for len(a.cur) == 0 {
		if a.err != nil {
			return 0, a.err
		}
		if a.buf != nil {
			a.free <- a.buf[:cap(a.buf)]
			a.buf = nil
		}
		c := <-a.full
		a.buf, a.cur, a.err = c.b, c.b, c.err
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// close stops the goroutine and waits for it: call it once the reader it
// reads from can no longer block (closed, or read to its end).
func (a *readAhead) close() {
	close(a.stop)
	<-a.done
}

func (o *observer) result() observed {
	return observed{size: o.n, sha256: hex.EncodeToString(o.h.Sum(nil)), head: o.head}
}

func unprocessable(field, format string, args ...any) error {
	e := fieldsync.Errorf(fieldsync.EUnprocessable, format, args...)
	e.Field = field
	return e
}

// verify checks the bytes seen against what the uploader declared; maxBytes
// is the limit of the media's kind.
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
		return unprocessable("content_type", "object is none of the accepted types (JPEG, PNG, WebP, HEIC, MP4, MOV, M4A, AMR, Opus, PDF)")
	}
	if !sameType(m.ContentType, sniffed) {
		return unprocessable("content_type", "object is %s, declared %s", sniffed, m.ContentType)
	}
	return nil
}

// describe fills what the leading bytes tell about a verified image: the
// EXIF capture time and position when present (dimensions come from decoding).
func describe(m *fieldsync.Media, head []byte) {
	if x, ok := ParseEXIF(exifBlock(head)); ok {
		m.TakenAt, m.GPS = x.TakenAt, x.GPS
	}
}

// inspect checks that the verified bytes kept at key really are an image of
// their type, not a valid header followed by anything: a JPEG, PNG or WebP
// within the pixel cap is decoded whole (under the decode slots) and use is
// handed its pixels; one over the cap has its header read (DecodeConfig) and
// its structure walked without decoding; HEIC/HEIF, which Go cannot decode,
// must be a well-formed ISO-BMFF box sequence, and so must MP4, MOV and
// M4A; AMR frames, Ogg pages and a PDF's ends are walked (checkStructure).
// Refused → unprocessable.
func (s *Service) inspect(ctx context.Context, m *fieldsync.Media, key string, use func(image.Image) error) (decoded, error) {
	obj, err := s.objects.Client.GetObject(ctx, s.objects.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return decoded{}, MapError(err)
	}
	defer obj.Close()
	var d decoded
	if isImage(m.ContentType) {
		d, err = s.decode(ctx, obj, use)
		if !errors.Is(err, errTooManyPixels) {
			return d, s.refusal(m, err)
		}
		if _, err := obj.Seek(0, io.SeekStart); err != nil {
			return d, MapError(err)
		}
	}
	return d, s.refusal(m, checkStructure(bufio.NewReaderSize(obj, 64<<10), m.ContentType, m.Size))
}

// refusal turns what checking an image failed with into unprocessable,
// unless it was the object store that failed.
func (s *Service) refusal(m *fieldsync.Media, err error) error {
	if err == nil {
		return nil
	}
	var fe *fieldsync.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &fieldsync.Error{Code: fieldsync.EUnavailable, Message: "verification interrupted", RetryAfter: 2, Err: err}
	case errors.As(err, &fe):
		return err
	case fieldsync.ErrorCode(MapError(err)) == fieldsync.EUnavailable || minio.ToErrorResponse(err).Code != "":
		return MapError(err)
	}
	s.log.Info("media: refused", "media_id", m.ID, "content_type", m.ContentType, "err", err)
	return unprocessable("content_type", "object is not a valid %s file", m.ContentType)
}

// checkBoxes walks the top-level boxes of an ISO-BMFF (HEIF) file of size
// bytes: every box has a sane size and a printable type, they tile the file
// exactly, the first is ftyp and a meta box declares a picture handler (hdlr
// "pict") — a HEIC header followed by HTML is none of that.
func checkBoxes(r *bufio.Reader, size int64) error {
	var metaPict bool
	err := walkBoxes(r, size, func(typ string, body int64, r *bufio.Reader) (bool, error) {
		if typ != "meta" || body > 64<<10 {
			return false, nil
		}
		b := make([]byte, body)
		if _, err := io.ReadFull(r, b); err != nil {
			return true, fmt.Errorf("media: meta box: %w", err)
		}
		metaPict = metaPict || pictHandler(b)
		return true, nil
	})
	if err != nil {
		return err
	}
	if !metaPict {
		return fmt.Errorf("media: no meta box with a picture handler")
	}
	return nil
}

// pictHandler reports whether a meta box body (a full box: version and flags
// first) holds a hdlr box of handler type "pict".
func pictHandler(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	b = b[4:]
	for len(b) >= 8 {
		n := int(binary.BigEndian.Uint32(b))
		if n < 8 || n > len(b) {
			return false
		}
		// hdlr: version/flags (4), pre_defined (4), handler_type (4).
		if string(b[4:8]) == "hdlr" && n >= 20 && string(b[16:20]) == "pict" {
			return true
		}
		b = b[n:]
	}
	return false
}
