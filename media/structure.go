package media

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Structure checks for photos too large to decode (over the pixel cap): they
// read the whole file as a stream, holding a few KB, and refuse a valid
// header followed by anything else (HTML, text, random bytes).

// checkStructure checks the file of type contentType, size bytes, read from r.
func checkStructure(r *bufio.Reader, contentType string, size int64) error {
	switch contentType {
	case TypeJPEG:
		return checkJPEG(r)
	case TypePNG:
		return checkPNG(r)
	case TypeWebP:
		return checkWebP(r, size)
	case TypeHEIC, TypeHEIF:
		return checkBoxes(r, size)
	case TypeMP4, TypeMOV, TypeM4A:
		return checkMovie(r, size, contentType)
	case TypeAMR, TypeAMRW:
		return checkAMR(r, contentType == TypeAMRW)
	case TypeOgg:
		return checkOgg(r)
	case TypePDF:
		return checkPDF(r)
	}
	return fmt.Errorf("media: no structure check for %s", contentType)
}

// checkJPEG walks the markers of a JPEG: length-prefixed segments, a frame
// header (SOF) before the first scan, entropy-coded data in which every 0xFF
// is stuffed (0x00) or a restart marker, up to the end-of-image marker.
// Bytes after it (phones append previews there) are not read.
func checkJPEG(r *bufio.Reader) error {
	var soi [2]byte
	if _, err := io.ReadFull(r, soi[:]); err != nil || soi != [2]byte{0xFF, 0xD8} {
		return errors.New("media: jpeg: no start of image")
	}
	var frame, scan bool
	marker := -1 // the marker just read, or -1 to read the next one
	for {
		if marker < 0 {
			b, err := r.ReadByte()
			if err != nil {
				return fmt.Errorf("media: jpeg: no end of image: %w", err)
			}
			if b != 0xFF {
				return errors.New("media: jpeg: bytes where a marker belongs")
			}
			for b == 0xFF { // fill bytes
				if b, err = r.ReadByte(); err != nil {
					return fmt.Errorf("media: jpeg: no end of image: %w", err)
				}
			}
			marker = int(b)
		}
		m := marker
		marker = -1
		switch {
		case m == 0xD9: // end of image
			if !frame || !scan {
				return errors.New("media: jpeg: ends before a frame and a scan")
			}
			return nil
		case m == 0x00 || m == 0xD8:
			return errors.New("media: jpeg: misplaced marker")
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7): // no length
			continue
		}
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return fmt.Errorf("media: jpeg: segment length: %w", err)
		}
		n := int(binary.BigEndian.Uint16(l[:]))
		if n < 2 {
			return errors.New("media: jpeg: short segment")
		}
		if _, err := r.Discard(n - 2); err != nil {
			return fmt.Errorf("media: jpeg: segment: %w", err)
		}
		switch {
		case m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC:
			frame = true
		case m == 0xDA:
			if !frame {
				return errors.New("media: jpeg: scan before frame header")
			}
			scan = true
			next, err := skipEntropyData(r)
			if err != nil {
				return err
			}
			marker = next
		}
	}
}

// skipEntropyData reads a scan's entropy-coded data and returns the marker
// that ends it.
func skipEntropyData(r *bufio.Reader) (int, error) {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return 0, fmt.Errorf("media: jpeg: scan data: %w", err)
		}
		if b != 0xFF {
			continue
		}
		for b == 0xFF {
			if b, err = r.ReadByte(); err != nil {
				return 0, fmt.Errorf("media: jpeg: scan data: %w", err)
			}
		}
		if b == 0x00 || (b >= 0xD0 && b <= 0xD7) {
			continue // stuffed byte, restart marker
		}
		return int(b), nil
	}
}

// checkPNG walks the chunks of a PNG from IHDR to IEND, checking each CRC.
func checkPNG(r *bufio.Reader) error {
	var sig [8]byte
	if _, err := io.ReadFull(r, sig[:]); err != nil || string(sig[:]) != "\x89PNG\r\n\x1a\n" {
		return errors.New("media: png: no signature")
	}
	var idat bool
	for i := 0; ; i++ {
		var h [8]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return fmt.Errorf("media: png: chunk header: %w", err)
		}
		n, typ := binary.BigEndian.Uint32(h[:4]), string(h[4:8])
		if n > 1<<31-1 {
			return errors.New("media: png: chunk too long")
		}
		if i == 0 && (typ != "IHDR" || n != 13) {
			return errors.New("media: png: does not start with IHDR")
		}
		crc := crc32.NewIEEE()
		crc.Write(h[4:8])
		if _, err := io.CopyN(crc, r, int64(n)); err != nil {
			return fmt.Errorf("media: png: chunk %q: %w", typ, err)
		}
		var sum [4]byte
		if _, err := io.ReadFull(r, sum[:]); err != nil || binary.BigEndian.Uint32(sum[:]) != crc.Sum32() {
			return fmt.Errorf("media: png: chunk %q: bad checksum", typ)
		}
		switch typ {
		case "IDAT":
			idat = true
		case "IEND":
			if !idat {
				return errors.New("media: png: no image data")
			}
			return nil
		}
	}
}

// checkWebP walks the chunks of a RIFF WebP file: they must tile the size
// the RIFF header declares, which must be the file's.
func checkWebP(r *bufio.Reader, size int64) error {
	var h [12]byte
	if _, err := io.ReadFull(r, h[:]); err != nil || string(h[:4]) != "RIFF" || string(h[8:12]) != "WEBP" {
		return errors.New("media: webp: no RIFF header")
	}
	if riff := int64(binary.LittleEndian.Uint32(h[4:8])); riff+8 != size {
		return fmt.Errorf("media: webp: RIFF declares %d bytes, file has %d", riff+8, size)
	}
	var image bool
	for off := int64(12); off < size; {
		var c [8]byte
		if _, err := io.ReadFull(r, c[:]); err != nil {
			return fmt.Errorf("media: webp: chunk header: %w", err)
		}
		typ, n := string(c[:4]), int64(binary.LittleEndian.Uint32(c[4:8]))
		n += n & 1 // chunks are padded to an even size
		if n > size-off-8 {
			return fmt.Errorf("media: webp: chunk %q overruns the file", typ)
		}
		switch typ {
		case "VP8 ", "VP8L", "ANMF":
			image = true
		}
		if _, err := r.Discard(int(n)); err != nil {
			return fmt.Errorf("media: webp: chunk %q: %w", typ, err)
		}
		off += 8 + n
	}
	if !image {
		return errors.New("media: webp: no image data")
	}
	return nil
}
