//go:build !noembed

package devstack

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
)

// wireLock is a MongoDB wire-protocol front for the embedded FerretDB. FerretDB
// updates documents read-modify-write without a lock, so two concurrent writes
// to one document can lose one of them. Every client of the embedded database,
// in this process or another, connects through this front, which admits one
// write command at a time and so gives MongoDB's single-document atomicity.
// Reads pass concurrently.
type wireLock struct {
	ln      net.Listener
	address string
	backend string
	log     *slog.Logger

	// writeMu admits one write command at a time across all connections.
	writeMu sync.Mutex
	// Disabled lets tests prove the atomicity tests fail without the lock.
	disabled bool
	// ferret, when set, mends FerretDB's look-ups by _id (ferretfront.go).
	ferret *ferretFront

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

const (
	opMsg     = 2013
	opQuery   = 2004
	maxMsgLen = 48 << 20
	// moreToCome in an OP_MSG request means no reply will follow.
	flagMoreToCome = 1 << 1
)

// writeCommands are the commands FerretDB executes read-modify-write or that change data.
var writeCommands = map[string]bool{
	"insert": true, "update": true, "delete": true, "findAndModify": true, "findandmodify": true,
	"create": true, "createIndexes": true, "drop": true, "dropDatabase": true, "dropIndexes": true,
	"renameCollection": true, "collMod": true,
}

func newWireLock(backend string, log *slog.Logger) (*wireLock, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w := &wireLock{ln: ln, address: ln.Addr().String(), backend: backend, log: log, conns: map[net.Conn]struct{}{}}
	w.wg.Add(1)
	go w.accept(ln)
	return w, nil
}

func (w *wireLock) addr() string { return w.address }

func (w *wireLock) close() {
	w.mu.Lock()
	ln := w.ln
	w.mu.Unlock()
	ln.Close()
	w.dropConns()
	w.wg.Wait()
}

func (w *wireLock) dropConns() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for c := range w.conns {
		c.Close()
	}
}

// pause stops accepting and drops every connection, as a crashed database would.
func (w *wireLock) pause() {
	w.mu.Lock()
	ln := w.ln
	w.mu.Unlock()
	ln.Close()
	w.dropConns()
}

// resume listens again on the same address.
func (w *wireLock) resume() error {
	ln, err := net.Listen("tcp", w.address)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.ln = ln
	w.mu.Unlock()
	w.wg.Add(1)
	go w.accept(ln)
	return nil
}

func (w *wireLock) track(c net.Conn, add bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if add {
		w.conns[c] = struct{}{}
	} else {
		delete(w.conns, c)
	}
}

func (w *wireLock) accept(ln net.Listener) {
	defer w.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		w.wg.Add(1)
		go w.serve(c)
	}
}

func (w *wireLock) serve(client net.Conn) {
	defer w.wg.Done()
	defer client.Close()
	server, err := net.Dial("tcp", w.backend)
	if err != nil {
		w.log.Warn("devstack: dial embedded database", "err", err)
		return
	}
	defer server.Close()
	w.track(client, true)
	w.track(server, true)
	defer w.track(client, false)
	defer w.track(server, false)

	for {
		req, err := readMessage(client)
		if err != nil {
			return
		}
		write, noReply, exhaust := classify(req)
		cmd, isCmd := command{}, false
		if w.ferret != nil {
			cmd, isCmd = parseCommand(req)
		}
		if isCmd && cmd.name == EmbeddedCommand {
			if _, err := client.Write(w.ferret.embeddedReply(req)); err != nil {
				return
			}
			continue
		}
		if isCmd && cmd.name == IndexCommand {
			w.writeMu.Lock()
			err := w.ferret.want(context.Background(), cmd)
			w.writeMu.Unlock()
			if _, err := client.Write(commandReply(req, err)); err != nil {
				return
			}
			continue
		}
		locked := write && !w.disabled
		if locked {
			w.writeMu.Lock()
			if isCmd && cmd.name == "update" && !noReply {
				req = w.ferret.casUpdate(server, cmd, req)
			}
			if isCmd && cmd.name == "dropDatabase" {
				w.ferret.closeDB(cmd.db)
			}
		}
		err = w.roundTrip(client, server, req, noReply, exhaust)
		if isCmd && err == nil && !w.disabled && w.ferret.needsIndex(cmd, write) {
			if !locked {
				w.writeMu.Lock()
				locked = true
			}
			w.ferret.ensureIndexes(context.Background(), cmd)
		}
		if locked {
			w.writeMu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func (w *wireLock) roundTrip(client, server net.Conn, req []byte, noReply, exhaust bool) error {
	if _, err := server.Write(req); err != nil {
		return err
	}
	if noReply {
		return nil
	}
	for {
		resp, err := readMessage(server)
		if err != nil {
			return err
		}
		if _, err := client.Write(resp); err != nil {
			return err
		}
		if !exhaust || !replyHasMoreToCome(resp) {
			return nil
		}
	}
}

func readMessage(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(int32(binary.LittleEndian.Uint32(hdr[:])))
	if n < 16 || n > maxMsgLen {
		return nil, errors.New("devstack: bad wire message length")
	}
	msg := make([]byte, n)
	copy(msg, hdr[:])
	if _, err := io.ReadFull(r, msg[4:]); err != nil {
		return nil, err
	}
	return msg, nil
}

// classify reads the command name of an OP_MSG request: whether it writes,
// whether the client expects no reply, and whether it asked for an exhaust stream.
func classify(msg []byte) (write, noReply, exhaust bool) {
	if int32(binary.LittleEndian.Uint32(msg[12:16])) != opMsg || len(msg) < 21 {
		return false, false, false
	}
	flags := binary.LittleEndian.Uint32(msg[16:20])
	noReply = flags&flagMoreToCome != 0
	exhaust = flags&(1<<16) != 0
	// Find section kind 0, the command document; its first element names the command.
	i := 20
	for i < len(msg) {
		kind := msg[i]
		if i+5 > len(msg) {
			break
		}
		size := int(int32(binary.LittleEndian.Uint32(msg[i+1 : i+5])))
		if kind == 1 {
			i += 1 + size
			continue
		}
		if kind != 0 || i+6 > len(msg) {
			break
		}
		name := msg[i+6:]
		end := 0
		for end < len(name) && name[end] != 0 {
			end++
		}
		return writeCommands[string(name[:end])], noReply, exhaust
	}
	return false, noReply, exhaust
}

func replyHasMoreToCome(msg []byte) bool {
	if len(msg) < 20 || int32(binary.LittleEndian.Uint32(msg[12:16])) != opMsg {
		return false
	}
	return binary.LittleEndian.Uint32(msg[16:20])&flagMoreToCome != 0
}
