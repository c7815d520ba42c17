package media

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// TestReadAheadPassesBytesAndErrors: what a readAhead reads is its source,
// byte for byte, whatever the sizes of the reads; a source failing midway
// fails the reader with that error after the bytes before it; closed early,
// it stops its goroutine.
func TestReadAheadPassesBytesAndErrors(t *testing.T) {
	src := make([]byte, 3*verifyBuffer+12345)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range src {
		src[i] = byte(r.Uint32())
	}
	for _, n := range []int{0, 1, verifyBuffer - 1, verifyBuffer, len(src)} {
		a := newReadAhead(iotest.HalfReader(bytes.NewReader(src[:n])))
		got, err := io.ReadAll(iotest.OneByteReader(io.LimitReader(a, 100)))
		if err != nil {
			t.Fatal(err)
		}
		rest, err := io.ReadAll(a)
		a.close()
		if err != nil || !bytes.Equal(append(got, rest...), src[:n]) {
			t.Fatalf("%d bytes: read %d+%d, err %v; want the source", n, len(got), len(rest), err)
		}
	}

	broken := errors.New("connection reset")
	a := newReadAhead(io.MultiReader(bytes.NewReader(src[:verifyBuffer+10]), iotest.ErrReader(broken)))
	got, err := io.ReadAll(a)
	a.close()
	if !errors.Is(err, broken) || !bytes.Equal(got, src[:verifyBuffer+10]) {
		t.Fatalf("got %d bytes, %v; want %d bytes, then the source's error", len(got), err, verifyBuffer+10)
	}

	pr, pw := io.Pipe()
	a = newReadAhead(pr)
	go func() { _, _ = pw.Write(src) }()
	if _, err := io.ReadFull(a, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	pr.Close() // as read closes the object's body before close
	a.close()  // returns: the goroutine ended
}
