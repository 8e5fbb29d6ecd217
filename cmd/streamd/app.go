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
	srv *loop.Server
	log *slog.Logger
	web fs.FS
	hub *loop.Hub
	sse *sseDemos
	ws  *wsDemos
}

func newApp(srv *loop.Server, log *slog.Logger) *app {
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		panic("BUG: embedded web assets missing: " + err.Error())
	}
	hub, err := loop.NewHub(loop.HubConfig{
		Topics: map[string]loop.TopicConfig{
			// A clock reader only needs the latest time.
			"clock": {Policy: loop.PolicyConflate, RingSize: 16},
		},
	})
	if err != nil {
		panic("BUG: in-process hub failed: " + err.Error())
	}
	a := &app{srv: srv, log: log, web: sub, hub: hub}
	a.sse = newSSEDemos(hub)
	a.ws = newWSDemos(hub)
	return a
}

func (a *app) start() { a.sse.startClock() }

func (a *app) close() {
	a.sse.stop()
	_ = a.hub.Close()
}

func (a *app) routes() {
	a.srv.GET("/", a.page("index.html"))
	a.srv.GET("/healthz", func(c *loop.Ctx) { c.Text(200, "ok") })
	a.srv.GET("/metrics", a.metrics())
	a.srv.GET("/hello", func(c *loop.Ctx) { c.Text(200, "Hello, World!") })
	a.srv.GET("/chunked", a.chunkedDemo)
	a.sse.routes(a)
	a.ws.routes(a)
}

// page serves an embedded HTML page.
func (a *app) page(name string) loop.HandlerFunc {
	body, err := fs.ReadFile(a.web, name)
	if err != nil {
		panic("BUG: embedded page missing: " + name)
	}
	return func(c *loop.Ctx) {
		c.SetHeader("Cache-Control", "no-cache")
		c.Bytes(200, "text/html; charset=utf-8", body)
	}
}

const (
	maxChunkLines    = 100000
	minChunkInterval = time.Millisecond
	maxChunkInterval = time.Minute
)

// chunkedDemo streams n lines "chunk <i>\n", one per interval, driven by
// the loop's timing wheel: no goroutine per response.
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
	interval := 100 * time.Millisecond
	if v, ok := c.Query("interval"); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxChunkInterval {
			c.Error(400, "interval must be a duration from 0 to 1m, like 250ms")
			return
		}
		interval = max(d, minChunkInterval)
	}
	w := chunked.Start(c, chunked.Options{})
	i := 0
	var next func()
	next = func() {
		if i >= n {
			_ = w.Close()
			return
		}
		line := "chunk " + strconv.Itoa(i) + "\n"
		i++
		if w.Send([]byte(line)) == loop.Dropped {
			return
		}
		w.After(interval, next)
	}
	next()
}
