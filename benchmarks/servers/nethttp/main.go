// Command nethttp is the net/http + gorilla/websocket peer for the streamd
// benchmarks. It is written the way a competent net/http user would write it:
// a goroutine per connection, http.Flusher for SSE, a per-topic subscriber set
// behind a mutex, and one writer goroutine per subscriber.
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	defaultSize  = 64 << 20
	defaultChunk = 16 << 10
	subQueue     = 64 // messages buffered per subscriber before it is considered slow
)

type subscriber chan []byte

type hub struct {
	mu     sync.Mutex
	topics map[string]map[subscriber]struct{}
}

func (h *hub) subscribe(topic string) subscriber {
	s := make(subscriber, subQueue)
	h.mu.Lock()
	set := h.topics[topic]
	if set == nil {
		set = make(map[subscriber]struct{})
		h.topics[topic] = set
	}
	set[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *hub) unsubscribe(topic string, s subscriber) {
	h.mu.Lock()
	delete(h.topics[topic], s)
	h.mu.Unlock()
}

// publish hands msg to every subscriber without blocking; a subscriber whose
// queue is full misses the message.
func (h *hub) publish(topic string, msg []byte) {
	h.mu.Lock()
	for s := range h.topics[topic] {
		select {
		case s <- msg:
		default:
		}
	}
	h.mu.Unlock()
}

func topicOf(r *http.Request) string {
	if t := r.URL.Query().Get("topic"); t != "" {
		return t
	}
	return "bench"
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	loops := flag.Int("loops", runtime.NumCPU(), "parallelism (GOMAXPROCS)")
	flag.Parse()
	if *loops > 0 {
		runtime.GOMAXPROCS(*loops)
	}

	h := &hub{topics: make(map[string]map[subscriber]struct{})}
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
		s := h.subscribe(topic)
		defer h.unsubscribe(topic, s)
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
		h.publish(topicOf(r), body)
		w.WriteHeader(http.StatusNoContent)
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
		s := h.subscribe(topic) // before the 101 goes out
		defer h.unsubscribe(topic, s)
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
		size, chunk := sizeArgs(r.URL.Query().Get("size"), r.URL.Query().Get("chunk"))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		buf := make([]byte, chunk)
		for i := range buf {
			buf[i] = 'x'
		}
		fl := w.(http.Flusher)
		// Each Write+Flush blocks until the kernel accepts the bytes:
		// backpressure comes from the blocking socket.
		for left := size; left > 0; {
			n := min(left, chunk)
			if _, err := w.Write(buf[:n]); err != nil {
				return
			}
			fl.Flush()
			left -= n
		}
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	log.Fatal(srv.Serve(ln))
}

func sizeArgs(sizeS, chunkS string) (size, chunk int) {
	size, chunk = defaultSize, defaultChunk
	if v, err := strconv.Atoi(sizeS); err == nil && v >= 0 {
		size = v
	}
	if v, err := strconv.Atoi(chunkS); err == nil && v > 0 && v <= 16<<20 {
		chunk = v
	}
	return size, chunk
}
