// Command nbio is the lesismal/nbio (nbhttp + nbhttp/websocket) peer for the
// streamd benchmarks, written as a competent nbio user would: non-blocking
// conns owned by nbio's pollers, SSE streams hijacked and written directly
// (nbio writes never block), WebSocket via the upgrader's
// OnOpen/OnMessage/OnClose callbacks, and a per-topic subscriber set behind a
// mutex. Large downloads are paced with Engine.OnWrittenSize so nbio's
// unbounded write queue stays bounded. Configured as nbio's own benchmark
// (lesismal/go-websocket-benchmark, nbio_nonblocking) configures it:
// IOModNonBlocking and ReleaseWebsocketPayload.
//
// -executor picks where handlers and WebSocket callbacks run:
//
//	pool    nbio's default: a goroutine pool (MessageHandlerPoolSize)
//	inline  Config.ServerExecutor runs them on the poller goroutine that
//	        read the bytes, as streamd runs handlers on its event loop
//
// With -executor inline a /chunked download still runs on a goroutine of
// its own: the handler must not block the poller, and nbio calls
// OnWrittenSize with the connection's lock held, so the poller cannot
// resume writing from there.
//
// With -tls-cert and -tls-key it serves HTTPS only, the way nbio's own
// examples (nbio-examples http/server_tls, websocket_1m_tls) do it:
// nbhttp.Config.AddrsTLS and TLSConfig with a certificate loaded by nbio's
// non-blocking fork of crypto/tls, github.com/lesismal/llib/std/crypto/tls
// (the poller decrypts what it read, Engine.TLSDataHandler; writes encrypt
// and queue). Hijacked conns are then that fork's *tls.Conn over the
// *nbio.Conn.
package main

import (
	"bytes"
	"flag"
	"github.com/streamd/streamd/benchmarks/internal/peer"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lesismal/llib/std/crypto/tls"
	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"
)

const (
	highWater = 256 << 10 // max bytes a download keeps queued in nbio
	keepalive = time.Hour // streams are long-lived; benchmarks idle for a while
)

// hub is a per-topic subscriber set. SSE subscribers are hijacked net.Conns,
// WebSocket subscribers are *websocket.Conn; both are written directly (nbio
// Write queues and never blocks).
type hub struct {
	mu    sync.Mutex
	sse   map[string]map[net.Conn]struct{}
	ws    map[string]map[*websocket.Conn]struct{}
	sseOf map[*nbio.Conn]sseSub // by the conn Engine.OnClose reports
}

// sseSub is an SSE subscriber: its topic and the conn its events are
// written to (the *nbio.Conn itself, or the TLS conn over it).
type sseSub struct {
	topic string
	w     net.Conn
}

func (h *hub) addSSE(topic string, base *nbio.Conn, w net.Conn) {
	h.mu.Lock()
	set := h.sse[topic]
	if set == nil {
		set = make(map[net.Conn]struct{})
		h.sse[topic] = set
	}
	set[w] = struct{}{}
	h.sseOf[base] = sseSub{topic, w}
	h.mu.Unlock()
}

func (h *hub) removeSSE(base *nbio.Conn) {
	h.mu.Lock()
	if s, ok := h.sseOf[base]; ok {
		delete(h.sse[s.topic], s.w)
		delete(h.sseOf, base)
	}
	h.mu.Unlock()
}

func (h *hub) addWS(topic string, c *websocket.Conn) {
	h.mu.Lock()
	set := h.ws[topic]
	if set == nil {
		set = make(map[*websocket.Conn]struct{})
		h.ws[topic] = set
	}
	set[c] = struct{}{}
	h.mu.Unlock()
}

func (h *hub) removeWS(topic string, c *websocket.Conn) {
	h.mu.Lock()
	delete(h.ws[topic], c)
	h.mu.Unlock()
}

func (h *hub) publish(topic string, msg []byte) {
	frame := make([]byte, 0, len(msg)+8)
	frame = append(append(append(frame, "data: "...), msg...), "\n\n"...)
	h.mu.Lock()
	for c := range h.sse[topic] {
		c.Write(frame)
	}
	for c := range h.ws[topic] {
		c.WriteMessage(websocket.TextMessage, msg)
	}
	h.mu.Unlock()
}

// pacer tracks bytes handed to nbio vs bytes nbio reports written, per conn,
// for the downloads in flight.
type pacer struct {
	active atomic.Int32
	conns  sync.Map // *nbio.Conn -> *pace
}

type pace struct {
	written atomic.Int64
	wake    chan struct{}
}

func (p *pacer) onWritten(c *nbio.Conn, _ []byte, n int) {
	if p.active.Load() == 0 {
		return
	}
	if v, ok := p.conns.Load(c); ok {
		pc := v.(*pace)
		pc.written.Add(int64(n))
		select {
		case pc.wake <- struct{}{}:
		default:
		}
	}
}

// unwrap returns the conn inside nbhttp's per-request wrapper: the
// poller's *nbio.Conn, or over TLS the *tls.Conn (llib fork) around it.
// Responses are written to it.
func unwrap(c net.Conn) net.Conn {
	if hc, ok := c.(*nbhttp.Conn); ok {
		return hc.Conn
	}
	return c
}

// base returns the *nbio.Conn under w (unwrap's result): the conn that
// Engine.OnClose and OnWrittenSize report.
func base(w net.Conn) (*nbio.Conn, bool) {
	if tc, ok := w.(*tls.Conn); ok {
		w = tc.Conn()
	}
	nc, ok := w.(*nbio.Conn)
	return nc, ok
}

func topicOf(r *http.Request) string {
	if t := r.URL.Query().Get("topic"); t != "" {
		return t
	}
	return "bench"
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	loops := flag.Int("loops", runtime.NumCPU(), "number of nbio pollers (and GOMAXPROCS)")
	executor := flag.String("executor", "pool", "where handlers run: pool (nbio's default goroutine pool) or inline (on the poller)")
	common := peer.CommonFlags()
	flag.Parse()
	common.Start()
	if *executor != "pool" && *executor != "inline" {
		log.Fatalf("-executor %q: want pool or inline", *executor)
	}
	if *loops > 0 {
		runtime.GOMAXPROCS(*loops)
	}
	logging.SetLevel(logging.LevelNone)

	h := &hub{
		sse:   make(map[string]map[net.Conn]struct{}),
		ws:    make(map[string]map[*websocket.Conn]struct{}),
		sseOf: make(map[*nbio.Conn]sseSub),
	}
	p := &pacer{}

	echo := websocket.NewUpgrader()
	echo.KeepaliveTime = keepalive
	echo.CheckOrigin = func(*http.Request) bool { return true }
	echo.OnMessage(func(c *websocket.Conn, mt websocket.MessageType, data []byte) {
		c.WriteMessage(mt, data)
	})

	sub := websocket.NewUpgrader()
	sub.KeepaliveTime = keepalive
	sub.CheckOrigin = func(*http.Request) bool { return true }
	sub.OnClose(func(c *websocket.Conn, _ error) {
		if topic, ok := c.Session().(string); ok {
			h.removeWS(topic, c)
		}
	})

	hello := []byte("Hello, World!")
	body := bytes.Repeat([]byte{'x'}, 16<<20)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "13")
		w.Write(hello)
	})
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		topic := topicOf(r)
		hj, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		conn := unwrap(hj)
		nc, ok := base(conn)
		if !ok {
			conn.Close()
			return
		}
		conn.SetReadDeadline(time.Time{})
		h.addSSE(topic, nc, conn) // before the head goes out
		if _, err := conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: keep-alive\r\n\r\n")); err != nil {
			h.removeSSE(nc)
		}
	})
	mux.HandleFunc("POST /publish", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.publish(topicOf(r), body)
		w.WriteHeader(http.StatusNoContent)
	})
	// nbhttp has buffered the whole body before the handler runs (no
	// body limit by default: Config.MaxHTTPBodySize 0); the handler reads
	// it as a net/http handler would.
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, peer.MaxUpload))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		b := strconv.AppendInt(nil, n, 10)
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	})
	mux.HandleFunc("GET /ws/echo", func(w http.ResponseWriter, r *http.Request) {
		echo.Upgrade(w, r, nil)
	})
	mux.HandleFunc("GET /ws/sub", func(w http.ResponseWriter, r *http.Request) {
		c, err := sub.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		topic := topicOf(r)
		c.SetSession(topic)
		h.addWS(topic, c)
	})
	mux.HandleFunc("GET /chunked", func(w http.ResponseWriter, r *http.Request) {
		size, chunk := peer.SizeArgs(r.URL.Query().Get("size"), r.URL.Query().Get("chunk"))
		// nbhttp.Response's own chunked writer reuses a freed buffer once it
		// has cached 64 KiB (v1.6.8 writeChunk), corrupting large bodies, so
		// the download frames its chunks itself on the hijacked conn.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		cw := unwrap(conn)
		nc, ok := base(cw)
		if !ok {
			conn.Close()
			return
		}
		if *executor == "inline" {
			// Never block the poller: pace the download from a goroutine.
			go download(p, nc, cw, size, chunk, body)
			return
		}
		download(p, nc, cw, size, chunk, body)
	})

	conf := nbhttp.Config{
		Network:                 "tcp",
		Addrs:                   []string{*addr},
		NPoller:                 *loops,
		Handler:                 mux,
		KeepaliveTime:           keepalive,
		ReleaseWebsocketPayload: true, // as nbio's own benchmark server
	}
	if *executor == "inline" {
		conf.ServerExecutor = func(f func()) { f() }
		// nbio v1.6.8 can deadlock the poller when a handler run inline
		// leads to its own conn being closed: flushResponse closes the
		// conn of a "Connection: close" request inside the job; nbio runs
		// OnClose on another goroutine, which may append nbhttp's close
		// job to the conn's running job list; the poller then runs it
		// inside Parser.Parse, and its CloseAndClean waits for the parser
		// lock Parse holds. So such requests are answered keep-alive and
		// left for the client to close (the load clients never send
		// Connection: close; the driver's liveness probe does).
		conf.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Close = false
			mux.ServeHTTP(w, r)
		})
	}
	if common.TLS() {
		// As nbio's TLS examples: the llib fork's certificate and Config
		// (its defaults: TLS 1.3 preferred, session tickets on), HTTPS only.
		cert, err := tls.LoadX509KeyPair(*common.TLSCert, *common.TLSKey)
		if err != nil {
			log.Fatal(err)
		}
		conf.Addrs, conf.AddrsTLS = nil, []string{*addr}
		conf.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	engine := nbhttp.NewEngine(conf)
	engine.OnWrittenSize(p.onWritten)
	engine.OnClose(func(c net.Conn, _ error) {
		if nc, ok := c.(*nbio.Conn); ok {
			h.removeSSE(nc)
		}
	})
	if err := engine.Start(); err != nil {
		log.Fatal(err)
	}
	select {}
}

// download writes a chunked /chunked response to w (nc, or the TLS conn
// over it), waiting whenever more than highWater bytes are queued in nbio
// (it blocks: never on a poller).
func download(p *pacer, nc *nbio.Conn, w net.Conn, size, chunk int, body []byte) {
	pc := &pace{wake: make(chan struct{}, 1)}
	p.conns.Store(nc, pc)
	p.active.Add(1)
	// CompareAndDelete: with -executor inline the client's next request
	// can start the next download on nc before this goroutine returns.
	defer func() { p.active.Add(-1); p.conns.CompareAndDelete(nc, pc) }()
	tc, _ := w.(*tls.Conn)
	var queued int64
	write := func(b []byte) bool {
		if _, err := w.Write(b); err != nil {
			return false
		}
		queued += int64(len(b))
		if tc != nil {
			queued += recordOverhead(len(b))
		}
		// Backpressure: wait for nbio to drain below the high-water mark.
		for queued-pc.written.Load() > highWater {
			select {
			case <-pc.wake:
			case <-time.After(10 * time.Second):
				nc.Close()
				return false
			}
		}
		return true
	}
	if !write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n")) {
		return
	}
	frame := make([]byte, 0, chunk+32)
	for left := size; left > 0; {
		n := min(left, chunk)
		frame = strconv.AppendUint(frame[:0], uint64(n), 16)
		frame = append(frame, '\r', '\n')
		frame = append(frame, body[:n]...)
		frame = append(frame, '\r', '\n')
		if !write(frame) {
			return
		}
		left -= n
	}
	write([]byte("0\r\n\r\n"))
}

// recordOverhead estimates what the TLS conn adds to n plaintext bytes on
// their way to nbio (OnWrittenSize counts what nbio writes): TLS 1.3
// records of at most 16 KiB, each 22 bytes longer (5 header, 1 content
// type, 16 AEAD tag). The fork sizes a conn's first dozen writes' records
// smaller (dynamic record sizing), so the estimate is a few KiB low per
// conn, a slack on the high-water mark of that much.
func recordOverhead(n int) int64 {
	const maxRecord, perRecord = 16 << 10, 22
	return int64((n+maxRecord-1)/maxRecord) * perRecord
}
