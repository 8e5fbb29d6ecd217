// Command nethttp is the net/http + gorilla/websocket peer for the streamd
// benchmarks. It is written the way a competent net/http user would write it:
// a goroutine per connection, http.Flusher for SSE, a per-topic subscriber set
// behind a mutex, and one writer goroutine per subscriber.
package main

import (
	"errors"
	"flag"
	"github.com/streamd/streamd/benchmarks/internal/peer"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

func topicOf(r *http.Request) string { return peer.Topic(r.URL.Query().Get("topic")) }

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	loops := flag.Int("loops", runtime.NumCPU(), "parallelism (GOMAXPROCS)")
	upload := flag.String("upload", "copy", "POST /upload reads the body with io.Copy to io.Discard (copy) or io.ReadAll (readall)")
	common := peer.CommonFlags()
	flag.Parse()
	common.Start()
	if *loops > 0 {
		runtime.GOMAXPROCS(*loops)
	}

	h := peer.NewHub()
	upgrader := websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 1024,
		CheckOrigin:     func(*http.Request) bool { return true },
	}
	hello := []byte("Hello, World!")

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "13")
		w.Write(hello)
	})

	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		fl, ok := w.(http.Flusher)
		if !ok {
			http.Error(w, "streaming unsupported", http.StatusInternalServerError)
			return
		}
		topic := topicOf(r)
		hd := w.Header()
		hd.Set("Content-Type", "text/event-stream")
		hd.Set("Cache-Control", "no-cache")
		// Subscribe before the head goes out: a client that has seen the
		// head may publish at once and must receive it.
		s := h.Subscribe(topic)
		defer h.Unsubscribe(topic, s)
		w.WriteHeader(http.StatusOK)
		fl.Flush()
		buf := make([]byte, 0, 256)
		for {
			select {
			case msg := <-s:
				buf = append(append(append(buf[:0], "data: "...), msg...), "\n\n"...)
				if _, err := w.Write(buf); err != nil {
					return
				}
				fl.Flush()
			case <-r.Context().Done():
				return
			}
		}
	})

	mux.HandleFunc("POST /publish", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.Publish(topicOf(r), body)
		w.WriteHeader(http.StatusNoContent)
	})

	// POST /upload answers the body's length. By default the body is
	// streamed through (io.Copy to io.Discard), as a net/http user who
	// only needs its length would write it; -upload readall holds it
	// whole first (io.ReadAll), as a handler that needs the bytes does.
	readAll := *upload == "readall"
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		body := http.MaxBytesReader(w, r.Body, peer.MaxUpload)
		var n int64
		var err error
		if readAll {
			var b []byte
			b, err = io.ReadAll(body)
			n = int64(len(b))
		} else {
			n, err = io.Copy(io.Discard, body)
		}
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write(strconv.AppendInt(nil, n, 10))
	})

	mux.HandleFunc("GET /ws/echo", func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, msg); err != nil {
				return
			}
		}
	})

	mux.HandleFunc("GET /ws/sub", func(w http.ResponseWriter, r *http.Request) {
		topic := topicOf(r)
		s := h.Subscribe(topic) // before the 101 goes out
		defer h.Unsubscribe(topic, s)
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		// Read pump: processes control frames and notices the close.
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				if _, _, err := c.NextReader(); err != nil {
					return
				}
			}
		}()
		for {
			select {
			case msg := <-s:
				if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
					return
				}
			case <-done:
				return
			}
		}
	})

	mux.HandleFunc("GET /chunked", func(w http.ResponseWriter, r *http.Request) {
		size, chunk := peer.SizeArgs(r.URL.Query().Get("size"), r.URL.Query().Get("chunk"))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		buf := make([]byte, chunk)
		for i := range buf {
			buf[i] = 'x'
		}
		// Each Write of more than net/http's 2 KiB pre-chunking buffer goes
		// straight to its chunk writer: one chunk per Write. No Flush per
		// chunk (nothing waits for a chunk): net/http's fixed 4 KiB
		// connection buffer then puts a 16 KiB chunk on the wire in two
		// write(2)s, not three. Writes block until the kernel accepts the
		// bytes: backpressure comes from the blocking socket.
		for left := size; left > 0; {
			n := min(left, chunk)
			if _, err := w.Write(buf[:n]); err != nil {
				return
			}
			left -= n
		}
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	if common.TLS() {
		// HTTPS as net/http's docs have it (ServeTLS with the PEM files,
		// crypto/tls defaults, session tickets on), HTTP/1.1 only: the
		// other servers do not speak h2, and the load clients would not
		// use it.
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		log.Fatal(srv.ServeTLS(ln, *common.TLSCert, *common.TLSKey))
	}
	log.Fatal(srv.Serve(ln))
}
