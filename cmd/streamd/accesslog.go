package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/streamd/streamd/loop"
)

// server is the *loop.Server the demos register their routes on. With an
// access log, each handler is wrapped to log its request.
type server struct {
	*loop.Server
	access *slog.Logger // nil: no access log
}

// GET registers a GET route (see loop.Server.Handle).
func (s *server) GET(pattern string, h loop.HandlerFunc) { s.Handle("GET", pattern, h) }

// POST registers a POST route (see loop.Server.Handle).
func (s *server) POST(pattern string, h loop.HandlerFunc) { s.Handle("POST", pattern, h) }

// Handle registers h for method and pattern, wrapped by the access log
// when there is one.
func (s *server) Handle(method, pattern string, h loop.HandlerFunc) {
	s.Server.Handle(method, pattern, accessLogged(s.access, h))
}

// accessLogged returns h, logging one line to log after each request it
// handled (h itself when log is nil, so a server without an access log
// pays nothing).
//
// The line has what a route handler can observe from outside: the
// method, the path (without the query, which may carry secrets), the
// client's address, the connection id and how long h ran on the loop.
// For a stream (SSE, WebSocket, chunked) that is the time to open it, not
// its lifetime. loop exposes neither the status nor the size of the
// response, so the line has neither, and requests answered without a
// route handler (404, 405, parser errors, 503 at accept) never reach h:
// logging those needs a per-response hook in loop.
func accessLogged(log *slog.Logger, h loop.HandlerFunc) loop.HandlerFunc {
	if log == nil {
		return h
	}
	return func(c *loop.Ctx) {
		start := time.Now()
		h(c)
		if !log.Enabled(context.Background(), slog.LevelInfo) {
			return
		}
		conn := c.Conn()
		log.LogAttrs(context.Background(), slog.LevelInfo, "request",
			slog.String("method", c.Method()),
			slog.String("path", c.Path()),
			slog.String("remote", conn.RemoteAddr().String()),
			slog.Uint64("conn_id", conn.ID()),
			slog.Duration("duration", time.Since(start)))
	}
}
