package media

import (
	"bytes"
	"strings"
	"testing"
)

func FuzzParseEXIF(f *testing.F) {
	f.Add([]byte("II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("MM\x00*\x00\x00\x00\x08\x00\x02\x87\x69\x00\x04\x00\x00\x00\x01\x00\x00\x00\x08"))
	f.Add([]byte("II*\x00\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, _ := ParseEXIF(b)
		if x.Orientation < 0 || x.Orientation > 8 {
			t.Fatalf("orientation %d", x.Orientation)
		}
		if x.GPS != nil && (x.GPS.Lat < -90 || x.GPS.Lat > 90 || x.GPS.Lon < -180 || x.GPS.Lon > 180) {
			t.Fatalf("gps %+v", x.GPS)
		}
	})
}

func FuzzExifBlock(f *testing.F) {
	f.Add([]byte("\xff\xd8\xff\xe1\x00\x0eExif\x00\x00II*\x00\x08\x00"))
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x04eXIfII*\x00\x00\x00\x00\x00"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPEXIF\x04\x00\x00\x00II*\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		x := exifBlock(b)
		if len(x) > 0 && !bytes.Contains(b, x) {
			t.Fatal("block not taken from the input")
		}
		ParseEXIF(x)
	})
}

func TestSniff(t *testing.T) {
	for in, want := range map[string]string{
		"\xff\xd8\xff\xe0":                 TypeJPEG,
		"\x89PNG\r\n\x1a\n....":            TypePNG,
		"RIFF\x10\x00\x00\x00WEBPVP8L":     TypeWebP,
		"\x00\x00\x00\x18ftypheic\x00\x00": TypeHEIC,
		"\x00\x00\x00\x18ftypmif1\x00\x00": TypeHEIF,
		"\x00\x00\x00\x18ftypisom\x00\x00": TypeMP4,
		"\x00\x00\x00\x18ftypqt  \x00\x00": TypeMOV,
		"\x00\x00\x00\x18ftypM4A \x00\x00": TypeM4A,
		"\x00\x00\x00\x18ftypavif\x00\x00": "",
		"#!AMR\n<":                         TypeAMR,
		"#!AMR-WB\n<":                      TypeAMRW,
		"%PDF-1.7\n":                       TypePDF,
		"OggS\x00\x02" + strings.Repeat("\x00", 20) + "\x01\x13OpusHead": TypeOgg,
		"OggS\x00\x02" + strings.Repeat("\x00", 20) + "\x01\x13OpusHea":  "",
		"GIF89a": "",
		"<html>": "",
		"":       "",
	} {
		if got := Sniff([]byte(in)); got != want {
			t.Errorf("Sniff(%q) = %q, want %q", in, got, want)
		}
	}
}
