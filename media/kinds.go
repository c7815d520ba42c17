package media

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"fieldsync"
)

// Content types of the kinds of evidence beyond photos.
const (
	TypeMP4  = "video/mp4"
	TypeMOV  = "video/quicktime"
	TypeM4A  = "audio/mp4"
	TypeAMR  = "audio/amr"
	TypeAMRW = "audio/amr-wb"
	TypeOgg  = "audio/ogg" // Opus in Ogg
	TypePDF  = "application/pdf"
)

// Default size limits of the kinds (Options.MaxBytes is the photos' limit).
const (
	DefaultMaxBytesSignature = 2 << 20
	DefaultMaxBytesVideo     = 200 << 20
	DefaultMaxBytesAudio     = 20 << 20
	DefaultMaxBytesDocument  = 20 << 20
)

// kindTypes lists the content types each kind accepts.
var kindTypes = map[string][]string{
	fieldsync.KindPhoto:     {TypeJPEG, TypePNG, TypeWebP, TypeHEIC, TypeHEIF},
	fieldsync.KindSignature: {TypePNG},
	fieldsync.KindVideo:     {TypeMP4, TypeMOV},
	fieldsync.KindAudio:     {TypeM4A, TypeAMR, TypeAMRW, TypeOgg},
	fieldsync.KindDocument:  {TypePDF},
}

// Kinds lists the kinds of evidence.
var Kinds = []string{fieldsync.KindPhoto, fieldsync.KindSignature, fieldsync.KindVideo, fieldsync.KindAudio, fieldsync.KindDocument}

// typeAliases maps content types phones also send to the one kept.
var typeAliases = map[string]string{
	"audio/x-m4a": TypeM4A, "audio/m4a": TypeM4A, "audio/aac": TypeM4A,
	"audio/opus": TypeOgg, "audio/3gpp-amr": TypeAMR, "image/jpg": TypeJPEG,
}

// canonicalType returns the content type kept for a declared one.
func canonicalType(t string) string {
	if c, ok := typeAliases[t]; ok {
		return c
	}
	return t
}

// kindOf returns the kind of a declared content type and declared kind
// (empty: inferred from the type), or "" when they do not go together.
func kindOf(contentType, kind string) string {
	if kind == "" {
		for _, k := range Kinds {
			if k != fieldsync.KindSignature && slices.Contains(kindTypes[k], contentType) {
				return k
			}
		}
		return ""
	}
	if slices.Contains(kindTypes[kind], contentType) {
		return kind
	}
	return ""
}

// mediaKind is the kind of m (photos announced before kinds have none).
func mediaKind(m *fieldsync.Media) string {
	if m.Kind == "" {
		return fieldsync.KindPhoto
	}
	return m.Kind
}

// isImage reports whether t is decoded by Go's image packages (thumbnails, stamps).
func isImage(t string) bool { return t == TypeJPEG || t == TypePNG || t == TypeWebP }

// sniffISOBMFF names the type of an ISO base media file by its major brand.
func sniffISOBMFF(brand string) string {
	switch brand {
	case "heic", "heix", "hevc", "hevx", "heim", "heis":
		return TypeHEIC
	case "mif1", "msf1":
		return TypeHEIF
	case "qt  ":
		return TypeMOV
	case "M4A ", "M4B ":
		return TypeM4A
	case "isom", "iso2", "iso3", "iso4", "iso5", "iso6", "mp41", "mp42", "avc1", "M4V ", "MSNV", "3gp4", "3gp5", "3gp6", "dash", "mp71":
		return TypeMP4
	}
	return ""
}

// sniffOther names the type of the leading bytes among the kinds that are not
// photos; "" when none.
func sniffOther(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("#!AMR\n")):
		return TypeAMR
	case bytes.HasPrefix(head, []byte("#!AMR-WB\n")):
		return TypeAMRW
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return TypePDF
	case len(head) >= 27 && string(head[:4]) == "OggS":
		off := 27 + int(head[26])
		if len(head) >= off+8 && string(head[off:off+8]) == "OpusHead" {
			return TypeOgg
		}
	}
	return ""
}

// sameFamily reports whether a sniffed type satisfies a declared one beyond
// equality: phones label MP4 audio with generic MP4 brands (isom, mp42).
func sameFamily(declared, sniffed string) bool {
	return declared == TypeM4A && sniffed == TypeMP4
}

// maxMovieHeader bounds the movie header (moov) read to find the tracks'
// handlers; a longer one (hours of video) is walked without that check.
const maxMovieHeader = 8 << 20

// checkMovie walks the top-level boxes of an MP4, MOV or M4A file: they tile
// the file, ftyp first, with a movie header (moov) and media data (mdat);
// the tracks' handlers must suit the declared type: a video has a video
// track, an M4A sound and no video (an MP4 renamed .m4a is refused).
func checkMovie(r *bufio.Reader, size int64, contentType string) error {
	var moov, mdat, checked bool
	handlers := map[string]bool{}
	err := walkBoxes(r, size, func(typ string, body int64, r *bufio.Reader) (bool, error) {
		mdat = mdat || typ == "mdat"
		if typ != "moov" {
			return false, nil
		}
		moov = true
		if body > maxMovieHeader {
			return false, nil
		}
		b := make([]byte, body)
		if _, err := io.ReadFull(r, b); err != nil {
			return true, fmt.Errorf("media: moov: %w", err)
		}
		trackHandlers(b, handlers)
		checked = true
		return true, nil
	})
	if err != nil {
		return err
	}
	if !moov || !mdat {
		return errors.New("media: movie without moov and mdat boxes")
	}
	if !checked {
		return nil
	}
	switch contentType {
	case TypeM4A:
		if !handlers["soun"] || handlers["vide"] {
			return errors.New("media: m4a: not a sound-only movie")
		}
	default:
		if !handlers["vide"] {
			return errors.New("media: movie has no video track")
		}
	}
	return nil
}

// trackHandlers collects the handler types (vide, soun, …) of the tracks of
// a moov box body: moov > trak > mdia > hdlr.
func trackHandlers(moov []byte, into map[string]bool) {
	eachBox(moov, func(typ string, trak []byte) {
		if typ != "trak" {
			return
		}
		eachBox(trak, func(typ string, mdia []byte) {
			if typ != "mdia" {
				return
			}
			eachBox(mdia, func(typ string, hdlr []byte) {
				// hdlr: version/flags (4), pre_defined (4), handler_type (4).
				if typ == "hdlr" && len(hdlr) >= 12 {
					into[string(hdlr[8:12])] = true
				}
			})
		})
	})
}

// eachBox calls f with the type and body of each box in b, stopping at the
// first malformed one.
func eachBox(b []byte, f func(typ string, body []byte)) {
	for len(b) >= 8 {
		n, hdr := uint64(binary.BigEndian.Uint32(b)), uint64(8)
		if n == 1 && len(b) >= 16 {
			n, hdr = binary.BigEndian.Uint64(b[8:]), 16
		}
		if n == 0 {
			n = uint64(len(b))
		}
		if n < hdr || n > uint64(len(b)) {
			return
		}
		f(string(b[4:8]), b[hdr:n])
		b = b[n:]
	}
}

// walkBoxes reads the top-level boxes of an ISO-BMFF file of size bytes:
// every box has a sane size and a printable type, they tile the file
// exactly, and the first is ftyp. visit sees each box before its body; it
// answers whether it read the body itself (exactly body bytes).
func walkBoxes(r *bufio.Reader, size int64, visit func(typ string, body int64, r *bufio.Reader) (bool, error)) error {
	var off int64
	for i := 0; off < size; i++ {
		var h [16]byte
		if _, err := io.ReadFull(r, h[:8]); err != nil {
			return fmt.Errorf("media: box header at %d: %w", off, err)
		}
		n, typ, hdr := int64(binary.BigEndian.Uint32(h[:4])), string(h[4:8]), int64(8)
		switch n {
		case 0: // to the end of the file
			n = size - off
		case 1:
			if _, err := io.ReadFull(r, h[8:16]); err != nil {
				return fmt.Errorf("media: box size at %d: %w", off, err)
			}
			n, hdr = int64(binary.BigEndian.Uint64(h[8:16])), 16
		}
		for _, c := range []byte(typ) {
			if c < 0x20 || c > 0x7e {
				return fmt.Errorf("media: box at %d has no type", off)
			}
		}
		if n < hdr || n > size-off {
			return fmt.Errorf("media: box %q at %d has size %d of %d left", typ, off, n, size-off)
		}
		if i == 0 && (typ != "ftyp" || n < 16 || (n-hdr-8)%4 != 0) {
			return fmt.Errorf("media: file does not start with a file type box")
		}
		body := n - hdr
		read, err := visit(typ, body, r)
		if err != nil {
			return err
		}
		if !read {
			if err := skip(r, body); err != nil {
				return fmt.Errorf("media: box %q at %d: %w", typ, off, err)
			}
		}
		off += n
	}
	return nil
}

// skip reads past n bytes of r (without io.Discard's copies in 8 KiB steps).
func skip(r *bufio.Reader, n int64) error {
	for n > 0 {
		d, err := r.Discard(int(min(n, 1<<30)))
		n -= int64(d)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// AMR frame sizes (header byte included) by frame type; 0 = invalid.
var (
	amrNBFrame = [16]int{13, 14, 16, 18, 20, 21, 27, 32, 6, 0, 0, 0, 0, 0, 0, 1}
	amrWBFrame = [16]int{18, 24, 33, 37, 41, 47, 51, 59, 61, 6, 0, 0, 0, 0, 1, 1}
)

// checkAMR walks the frames of an AMR or AMR-WB file (RFC 4867 storage
// format): each frame's header names its type and so its length, and the
// frames end exactly at the end of the file.
func checkAMR(r *bufio.Reader, wide bool) error {
	magic, sizes := "#!AMR\n", amrNBFrame
	if wide {
		magic, sizes = "#!AMR-WB\n", amrWBFrame
	}
	h := make([]byte, len(magic))
	if _, err := io.ReadFull(r, h); err != nil || string(h) != magic {
		return errors.New("media: amr: no magic")
	}
	frames := 0
	for {
		b, err := r.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		n := sizes[(b>>3)&0x0F]
		if b&0x83 != 0 || n == 0 { // padding bits must be zero
			return fmt.Errorf("media: amr: bad frame header %#x after %d frames", b, frames)
		}
		if err := skip(r, int64(n-1)); err != nil {
			return fmt.Errorf("media: amr: frame %d: %w", frames, err)
		}
		frames++
	}
	if frames == 0 {
		return errors.New("media: amr: no frames")
	}
	return nil
}

// oggCRC is the Ogg page checksum table (CRC-32, polynomial 0x04c11db7, not reflected).
var oggCRC = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

func oggChecksum(crc uint32, b []byte) uint32 {
	for _, c := range b {
		crc = crc<<8 ^ oggCRC[byte(crc>>24)^c]
	}
	return crc
}

// checkOgg walks the pages of an Ogg Opus file: each starts with the capture
// pattern, its checksum matches, the first carries OpusHead, and the pages
// end exactly at the end of the file.
func checkOgg(r *bufio.Reader) error {
	pages := 0
	body := make([]byte, 255*255)
	for {
		var h [27]byte
		if _, err := io.ReadFull(r, h[:]); err == io.EOF && pages > 0 {
			return nil
		} else if err != nil {
			return fmt.Errorf("media: ogg: page %d header: %w", pages, err)
		}
		if string(h[:4]) != "OggS" || h[4] != 0 {
			return fmt.Errorf("media: ogg: page %d has no capture pattern", pages)
		}
		segs := make([]byte, h[26])
		if _, err := io.ReadFull(r, segs); err != nil {
			return fmt.Errorf("media: ogg: page %d segments: %w", pages, err)
		}
		n := 0
		for _, s := range segs {
			n += int(s)
		}
		if _, err := io.ReadFull(r, body[:n]); err != nil {
			return fmt.Errorf("media: ogg: page %d body: %w", pages, err)
		}
		want := binary.LittleEndian.Uint32(h[22:26])
		clear(h[22:26])
		crc := oggChecksum(oggChecksum(oggChecksum(0, h[:]), segs), body[:n])
		if crc != want {
			return fmt.Errorf("media: ogg: page %d: bad checksum", pages)
		}
		if pages == 0 && !bytes.HasPrefix(body[:n], []byte("OpusHead")) {
			return errors.New("media: ogg: not Opus")
		}
		pages++
	}
}

// checkPDF reads a PDF to its end: a %PDF-1.x or 2.x header, and within the
// last KB a startxref and the %%EOF marker (a PDF header followed by HTML
// has neither). Objects are not parsed: downloads are served as
// attachments of type application/pdf only.
func checkPDF(r *bufio.Reader) error {
	head := make([]byte, 8)
	if _, err := io.ReadFull(r, head); err != nil || !bytes.HasPrefix(head, []byte("%PDF-")) ||
		(head[5] != '1' && head[5] != '2') || head[6] != '.' {
		return errors.New("media: pdf: no header")
	}
	const tailSize = 1024
	tail := make([]byte, 0, 2*tailSize)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		tail = append(tail, buf[:n]...)
		if len(tail) > tailSize {
			tail = append(tail[:0], tail[len(tail)-tailSize:]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if !bytes.Contains(tail, []byte("%%EOF")) || !bytes.Contains(tail, []byte("startxref")) {
		return errors.New("media: pdf: no startxref and %%EOF at the end")
	}
	return nil
}
