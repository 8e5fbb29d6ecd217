package main

import (
	"embed"
	"io/fs"
	"log/slog"
	"strconv"
	"time"

	"github.com/streamd/streamd/chunked"
	"github.com/streamd/streamd/loop"
)

//go:embed web
var webFS embed.FS

// app holds the demo handlers and their shared state.
type app struct {
	srv *server // routes registered here get the access log (accesslog.go)
	log *slog.Logger
	web fs.FS
	hub *loop.Hub
	sse *sseDemos
	ws  *wsDemos
}

func newApp(srv *loop.Server, log *slog.Logger, broker loop.Broker) *app {
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		panic("BUG: embedded web assets missing: " + err.Error())
	}
	hub, err := loop.NewHub(loop.HubConfig{
		Topics: map[string]loop.TopicConfig{
			// A clock reader only needs the latest time.
			"clock": {Policy: loop.PolicyConflate, RingSize: 16},
			// The ring is also what a chat page shows on first load.
			"chat": {RingSize: chatHistory},
		},
		Broker: broker,
	})
	if err != nil {
		panic("BUG: hub failed: " + err.Error()) // brokers start in New/Embedded
	}
	a := &app{srv: &server{Server: srv}, log: log, web: sub, hub: hub}
	a.sse = newSSEDemos(hub, broker != nil)
	a.ws = newWSDemos(hub, broker != nil, log)
	return a
}

func (a *app) start() { a.sse.startClock() }

func (a *app) close() {
	a.sse.stop()
	a.ws.stop()
	_ = a.hub.Close()
}

func (a *app) routes() {
	a.srv.GET("/", a.page("index.html"))
	a.srv.GET("/style.css", a.asset("style.css", "text/css; charset=utf-8"))
	a.srv.GET("/healthz", func(c *loop.Ctx) { c.Text(200, "ok") })
	a.srv.GET("/metrics", a.metrics())
	a.srv.GET("/hello", func(c *loop.Ctx) { c.Text(200, "Hello, World!") })
	a.srv.GET("/chunked", a.chunkedDemo)
	a.srv.GET("/chunked/view", a.page("chunked.html"))
	a.sse.routes(a)
	a.ws.routes(a)
}

// page serves an embedded HTML page.
func (a *app) page(name string) loop.HandlerFunc {
	return a.asset(name, "text/html; charset=utf-8")
}

// asset serves an embedded file with no-cache: the browser asks again
// each time (there is no validator), so a new binary's pages and style
// show at once.
func (a *app) asset(name, contentType string) loop.HandlerFunc {
	body, err := fs.ReadFile(a.web, name)
	if err != nil {
		panic("BUG: embedded file missing: " + name)
	}
	return func(c *loop.Ctx) {
		c.SetHeader("Cache-Control", "no-cache")
		c.Bytes(200, contentType, body)
	}
}

const (
	maxChunkLines    = 100000
	maxChunkInterval = time.Minute // keep chunkIntervalError in step
	// chunkBatch bounds the lines one callback writes at interval=0, so a
	// fast reader's response does not hold the loop from its other
	// connections.
	chunkBatch = 256
)

// chunkIntervalError names the accepted intervals: timers run on the
// loop's timing wheel, so an interval shorter than its tick cannot be
// kept; 0 means no timer at all.
var chunkIntervalError = "interval must be 0 (as fast as the client reads) or a duration from " +
	loop.TickInterval.String() + " (the timer tick) to 1m, like 250ms"

// chunkedDemo streams n lines "chunk <i>\n". With an interval, one line
// per interval, driven by the loop's timing wheel (so kept to within one
// tick): no goroutine and no timer per response. With interval=0, as fast
// as the client reads: lines are written until the connection is above
// its high watermark, then resumed from OnDrain.
func (a *app) chunkedDemo(c *loop.Ctx) {
	n := 10
	if v, ok := c.Query("n"); ok {
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i > maxChunkLines {
			c.Error(400, "n must be an integer from 0 to "+strconv.Itoa(maxChunkLines))
			return
		}
		n = i
	}
	interval := loop.TickInterval
	if v, ok := c.Query("interval"); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || (d > 0 && d < loop.TickInterval) || d > maxChunkInterval {
			c.Error(400, chunkIntervalError)
			return
		}
		interval = d
	}
	w := chunked.Start(c, chunked.Options{})
	if interval == 0 {
		pumpLines(w, n)
		return
	}
	i := 0
	var next func()
	next = func() {
		if i >= n {
			_ = w.Close()
			return
		}
		if w.Send(chunkLine(i)) == loop.Dropped {
			return
		}
		i++
		w.After(interval, next)
	}
	next()
}

func chunkLine(i int) []byte {
	b := strconv.AppendInt(append(make([]byte, 0, 16), "chunk "...), int64(i), 10)
	return append(b, '\n')
}

// lineSender is the part of *chunked.Writer that pumpLines uses.
type lineSender interface {
	Send(p []byte) loop.WriteResult
	OnDrain(fn func())
	Close() error
}

// pumpLines writes lines 0..n-1 as fast as the client reads: up to
// chunkBatch lines per callback, stopping when Send reports Queued (the
// connection is above its high watermark) and resuming from OnDrain. On
// the loop.
func pumpLines(w lineSender, n int) {
	i := 0
	var pump func()
	pump = func() {
		for range chunkBatch {
			if i >= n {
				_ = w.Close()
				return
			}
			r := w.Send(chunkLine(i))
			if r == loop.Dropped {
				return
			}
			i++
			if r == loop.Queued {
				w.OnDrain(pump)
				return
			}
		}
		w.OnDrain(pump) // fires at once unless output is queued
	}
	pump()
}
