package media

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCheckStructure: the structure walkers read client bytes; whatever they
// get they answer (no panic, no endless loop) and never accept a file that
// does not even sniff as the type they check.
func FuzzCheckStructure(f *testing.F) {
	f.Add("image/jpeg", []byte("\xFF\xD8\xFF\xC0\x00\x0B\x08\x27\x10\x27\x10\x01\x01\x11\x00\xFF\xDA\x00\x08\x01\x01\x00\x00\x3F\x00abc\xFF\x00\xFF\xD0\xFF\xD9"))
	f.Add("image/jpeg", []byte("\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00<html>"))
	f.Add("image/png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00\x3a\x7e\x9b\x55"))
	f.Add("image/webp", []byte("RIFF\x0e\x00\x00\x00WEBPVP8L\x05\x00\x00\x00\x2F\x00\x00\x00\x00\x00"))
	f.Add("image/heic", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic\x00\x00\x00\x0cmeta\x00\x00\x00\x00"))
	for ct, file := range map[string]string{TypeMP4: "sample.mp4", TypeMOV: "sample.mov", TypeM4A: "sample.m4a",
		TypeAMR: "sample.amr", TypeOgg: "sample.opus", TypePDF: "sample.pdf"} {
		if b, err := os.ReadFile(filepath.Join("testdata", file)); err == nil {
			f.Add(ct, b)
		}
	}
	f.Add(TypeAMRW, []byte("#!AMR-WB\n\x44"+strings.Repeat("\x00", 60)))
	f.Add(TypePDF, []byte("%PDF-1.4\n<html></html>"))
	f.Fuzz(func(t *testing.T, contentType string, b []byte) {
		err := checkStructure(bufio.NewReader(bytes.NewReader(b)), contentType, int64(len(b)))
		if err == nil && !sameType(contentType, Sniff(b)) {
			t.Fatalf("accepted %q as %s", b, contentType)
		}
	})
}
