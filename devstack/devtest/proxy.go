package devtest

import (
	"io"
	"net"
	"sync"
	"testing"

	"fieldsync/media"
)

// Proxy is a pausable TCP forwarder in front of a shared server (the object
// store or the database), so a test can take "the network to it" down and up
// without stopping the server other tests share. Pause closes the listener
// and every live connection; Resume listens again on the same address.
type Proxy struct {
	tb     testing.TB
	target string
	addr   string

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	paused bool
	wg     sync.WaitGroup
}

// NewProxy starts a forwarder on a free loopback port to target (host:port),
// stopped when the test ends.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{tb: tb, target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	tb.Cleanup(func() {
		p.Pause()
		p.wg.Wait()
	})
	return p
}

// Addr is the forwarder's host:port (stable across Pause and Resume).
func (p *Proxy) Addr() string { return p.addr }

// Pause refuses new connections and cuts every live one.
func (p *Proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		return
	}
	p.paused = true
	_ = p.ln.Close()
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// Resume listens again on the same address.
func (p *Proxy) Resume() {
	p.tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.paused {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.tb.Fatalf("proxy: listen again on %s: %v", p.addr, err)
	}
	p.paused = false
	p.serve(ln)
}

// serve accepts on ln until it is closed; call with mu held or before sharing p.
func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.forward(c)
			}()
		}
	}()
}

// track registers live connections; false when paused meanwhile.
func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		_ = c.Close()
	}
}

func (p *Proxy) forward(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	if !p.track(client, server) {
		_ = client.Close()
		_ = server.Close()
		return
	}
	defer p.untrack(client, server)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done // either side closed: cut both
}

// MustOpenObjectsVia returns an object store on a fresh bucket whose requests
// go through a pausable proxy (also returned) to the shared object store.
// The bucket is created and removed directly, so cleanup works while paused.
func MustOpenObjectsVia(tb testing.TB) (*media.ObjectStore, *Proxy) {
	tb.Helper()
	direct := MustOpenObjects(tb)
	ensureStack(tb)
	p := NewProxy(tb, s3Endpoint)
	o, err := media.OpenObjectStore(media.ObjectStoreOptions{
		Endpoint: p.Addr(), AccessKey: s3Access, SecretKey: s3Secret, Bucket: direct.Bucket,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return o, p
}
