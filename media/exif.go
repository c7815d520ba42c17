package media

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"time"

	"fieldsync"
)

// EXIF is what fieldsync reads from a photo's EXIF block.
type EXIF struct {
	// TakenAt is DateTimeOriginal, in its OffsetTimeOriginal zone when given,
	// else read as UTC (EXIF has no zone of its own).
	TakenAt *time.Time
	GPS     *fieldsync.GeoPoint
	// Orientation is the EXIF orientation 1-8 (0 when absent).
	Orientation int
}

// exifBlock finds the TIFF-structured EXIF block in the leading bytes of a
// JPEG (APP1 "Exif"), PNG (eXIf chunk) or WebP (EXIF chunk); nil if none.
func exifBlock(b []byte) []byte {
	switch Sniff(b) {
	case TypeJPEG:
		i := 2
		for i+4 <= len(b) && b[i] == 0xFF {
			marker := b[i+1]
			if marker == 0xDA || marker == 0xD9 { // start of scan, end of image
				return nil
			}
			n := int(binary.BigEndian.Uint16(b[i+2:]))
			if n < 2 || i+2+n > len(b) {
				return nil
			}
			seg := b[i+4 : i+2+n]
			if marker == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
				return seg[6:]
			}
			i += 2 + n
		}
	case TypePNG:
		for i := 8; i+12 <= len(b); {
			n := int(binary.BigEndian.Uint32(b[i:]))
			if n < 0 || n > len(b)-i-12 {
				return nil
			}
			if string(b[i+4:i+8]) == "eXIf" {
				return b[i+8 : i+8+n]
			}
			i += 12 + n
		}
	case TypeWebP:
		for i := 12; i+8 <= len(b); {
			n := int(binary.LittleEndian.Uint32(b[i+4:]))
			if n < 0 || n > len(b)-i-8 {
				return nil
			}
			if string(b[i:i+4]) == "EXIF" {
				return bytes.TrimPrefix(b[i+8:i+8+n], []byte("Exif\x00\x00"))
			}
			i += 8 + n + n&1
		}
	}
	return nil
}

// EXIF tags read.
const (
	tagOrientation    = 0x0112
	tagExifIFD        = 0x8769
	tagGPSIFD         = 0x8825
	tagDateTimeOrig   = 0x9003
	tagOffsetTimeOrig = 0x9011
	tagGPSLatRef      = 0x0001
	tagGPSLat         = 0x0002
	tagGPSLonRef      = 0x0003
	tagGPSLon         = 0x0004
)

// tiff reads one TIFF structure with bounds checks on every access.
type tiff struct {
	b  []byte
	bo binary.ByteOrder
}

type ifdEntry struct {
	typ, count uint32
	value      []byte // the value bytes, inline or at their offset
}

// typeSize is the byte size of TIFF field types 1-12.
var typeSize = [...]uint32{0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8}

// ifd reads the directory at off into tag → entry; nil when it is malformed.
func (t tiff) ifd(off uint32) map[uint16]ifdEntry {
	if uint64(off)+2 > uint64(len(t.b)) {
		return nil
	}
	n := uint32(t.bo.Uint16(t.b[off:]))
	if uint64(off)+2+uint64(n)*12 > uint64(len(t.b)) {
		return nil
	}
	out := make(map[uint16]ifdEntry, n)
	for i := range n {
		e := t.b[off+2+i*12:]
		tag, typ, count := t.bo.Uint16(e), uint32(t.bo.Uint16(e[2:])), t.bo.Uint32(e[4:])
		if typ == 0 || typ >= uint32(len(typeSize)) || count > 1<<16 {
			continue
		}
		size := typeSize[typ] * count
		var v []byte
		if size <= 4 {
			v = e[8 : 8+size]
		} else {
			at := t.bo.Uint32(e[8:])
			if uint64(at)+uint64(size) > uint64(len(t.b)) {
				continue
			}
			v = t.b[at : at+size]
		}
		out[tag] = ifdEntry{typ: typ, count: count, value: v}
	}
	return out
}

func (t tiff) long(e ifdEntry) (uint32, bool) {
	switch {
	case e.typ == 4 && e.count >= 1:
		return t.bo.Uint32(e.value), true
	case e.typ == 3 && e.count >= 1:
		return uint32(t.bo.Uint16(e.value)), true
	}
	return 0, false
}

func ascii(e ifdEntry) string {
	if e.typ != 2 {
		return ""
	}
	s, _, _ := strings.Cut(string(e.value), "\x00")
	return strings.TrimSpace(s)
}

// degrees reads a GPS coordinate: three unsigned rationals (degrees, minutes, seconds).
func (t tiff) degrees(e ifdEntry) (float64, bool) {
	if e.typ != 5 || e.count != 3 {
		return 0, false
	}
	var parts [3]float64
	for i := range parts {
		num, den := t.bo.Uint32(e.value[i*8:]), t.bo.Uint32(e.value[i*8+4:])
		if den == 0 {
			return 0, false
		}
		parts[i] = float64(num) / float64(den)
	}
	return parts[0] + parts[1]/60 + parts[2]/3600, true
}

// ParseEXIF reads capture time, GPS position and orientation from a TIFF-
// structured EXIF block. It never panics on malformed input; ok is false when
// b is not a TIFF structure.
func ParseEXIF(b []byte) (x EXIF, ok bool) {
	if len(b) < 8 {
		return x, false
	}
	t := tiff{b: b}
	switch string(b[:4]) {
	case "II*\x00":
		t.bo = binary.LittleEndian
	case "MM\x00*":
		t.bo = binary.BigEndian
	default:
		return x, false
	}
	ifd0 := t.ifd(t.bo.Uint32(b[4:]))
	if ifd0 == nil {
		return x, false
	}
	if e, ok := ifd0[tagOrientation]; ok {
		if o, ok := t.long(e); ok && o >= 1 && o <= 8 {
			x.Orientation = int(o)
		}
	}
	if e, ok := ifd0[tagExifIFD]; ok {
		if off, ok := t.long(e); ok {
			sub := t.ifd(off)
			x.TakenAt = takenAt(ascii(sub[tagDateTimeOrig]), ascii(sub[tagOffsetTimeOrig]))
		}
	}
	if e, ok := ifd0[tagGPSIFD]; ok {
		if off, ok := t.long(e); ok {
			x.GPS = t.gps(t.ifd(off))
		}
	}
	return x, true
}

func takenAt(dt, offset string) *time.Time {
	if dt == "" {
		return nil
	}
	loc := time.UTC
	if offset != "" {
		if z, err := time.Parse("-07:00", offset); err == nil {
			_, secs := z.Zone()
			loc = time.FixedZone(offset, secs)
		}
	}
	ts, err := time.ParseInLocation("2006:01:02 15:04:05", dt, loc)
	if err != nil || ts.Year() < 1900 {
		return nil
	}
	return &ts
}

func (t tiff) gps(g map[uint16]ifdEntry) *fieldsync.GeoPoint {
	lat, ok1 := t.degrees(g[tagGPSLat])
	lon, ok2 := t.degrees(g[tagGPSLon])
	if !ok1 || !ok2 {
		return nil
	}
	if ascii(g[tagGPSLatRef]) == "S" {
		lat = -lat
	}
	if ascii(g[tagGPSLonRef]) == "W" {
		lon = -lon
	}
	if math.IsNaN(lat) || math.Abs(lat) > 90 || math.Abs(lon) > 180 {
		return nil
	}
	return &fieldsync.GeoPoint{Lat: lat, Lon: lon}
}
