package main

import (
	"errors"
	"expvar"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"fieldsync/mongodb"
)

// dbCommands counts the database commands of this process when
// FIELDSYNC_DEBUG_ADDR is set; published at /debug/vars as db_commands.
var dbCommands *mongodb.CommandCounter

func init() {
	expvar.Publish("db_commands", expvar.Func(func() any {
		if dbCommands == nil {
			return int64(-1)
		}
		return dbCommands.Count()
	}))
}

// startDebug serves pprof and expvar on addr (loopback only; never on the API
// port, and not part of the public contract). It returns a stop function.
func startDebug(addr string, log *slog.Logger) (func(), error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &configError{"FIELDSYNC_DEBUG_ADDR", addr, "want host:port"}
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, &configError{"FIELDSYNC_DEBUG_ADDR", addr, "want a loopback address"}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/debug/vars", expvar.Handler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("debug server stopped", "err", err)
		}
	}()
	log.Info("debug server", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
