//go:build unix

package main

import (
	"log/slog"
	"syscall"
)

// streamsFiles is the open-files limit below which serve warns: each live
// event stream holds a socket, and an instance is sized for 20,000 phones
// (README, "Running in production").
const streamsFiles = 32768

// raiseOpenFiles raises this process's soft limit on open files to the hard
// limit (what an unprivileged process may), logs both, and warns when the hard
// limit is below streamsFiles. Go's runtime does the raise too at start on
// Linux; doing it here makes it explicit, and logged, on every Unix.
func raiseOpenFiles(log *slog.Logger) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		log.Warn("open files limit unknown", "err", err)
		return
	}
	if l.Cur < l.Max {
		want := l
		want.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			log.Warn("could not raise the open files limit", "soft", l.Cur, "hard", l.Max, "err", err)
		} else {
			l = want
		}
	}
	if l.Cur < streamsFiles {
		log.Warn("open files limit is low for live event streams: raise the hard limit (systemd LimitNOFILE, ulimit -Hn)",
			"limit", l.Cur, "want", streamsFiles)
		return
	}
	log.Info("open files limit", "limit", l.Cur)
}
