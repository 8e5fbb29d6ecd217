// Command rawfanout is the ceiling for the fan-out scenarios: one epoll loop
// (internal/rawloop), no HTTP or WebSocket library. A subscriber sends
// GET /sse or GET /ws/sub and gets a head back (a close-delimited
// text/event-stream, or a 101 with the right Sec-WebSocket-Accept); a
// POST /publish builds the message's bytes once ("data: <body>\n\n", or one
// unmasked text frame) and then does one write(2) of them per subscriber
// socket in a tight loop, then answers 204. That is the least work a server
// can do to deliver a message to N sockets: what remains is the kernel's
// per-write cost, which on loopback includes the receiver's TCP path.
//
// It also answers GET /hello so the driver can tell it is up. -loops sets
// GOMAXPROCS; the server runs one loop whatever it is.
package main

import (
	"encoding/binary"
	"flag"
	"log"
	"runtime"

	"github.com/streamd/streamd/benchmarks/internal/rawloop"
)

var (
	sseHead   = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n")
	published = []byte("HTTP/1.1 204 No Content\r\n\r\n")
)

// sub is a subscriber's place in its topic.
type sub struct {
	topic *topic
	ws    bool
	idx   int
}

type topic struct{ sse, ws []*rawloop.Conn }

func (t *topic) list(ws bool) *[]*rawloop.Conn {
	if ws {
		return &t.ws
	}
	return &t.sse
}

type server struct {
	l      *rawloop.Loop
	topics map[string]*topic
	req    rawloop.Request
	frame  []byte
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	loops := flag.Int("loops", runtime.NumCPU(), "GOMAXPROCS (one loop regardless)")
	flag.Parse()
	if *loops > 0 {
		runtime.GOMAXPROCS(*loops)
	}
	l, err := rawloop.Listen(*addr)
	if err != nil {
		log.Fatal(err)
	}
	s := &server{l: l, topics: map[string]*topic{}}
	l.OnData = s.onData
	l.OnClose = s.onClose
	log.Fatal(l.Run())
}

func (s *server) onData(c *rawloop.Conn, data []byte) {
	if c.State != nil {
		return // a subscriber: nothing to read (a client's close frame, say)
	}
	c.In = append(c.In, data...)
	for len(c.In) > 0 && c.State == nil {
		n := rawloop.ParseRequest(c.In, &s.req)
		if n == 0 {
			return
		}
		if n < 0 {
			s.l.Close(c)
			return
		}
		s.serve(c, n)
		c.In = c.In[:copy(c.In, c.In[n:])]
	}
	if c.State != nil {
		c.In = nil
	}
}

func (s *server) serve(c *rawloop.Conn, n int) {
	r := &s.req
	switch string(r.Path) {
	case "/hello":
		s.l.Write(c, rawloop.Hello)
	case "/sse", "/ws/sub":
		ws := string(r.Path) == "/ws/sub"
		name := string(r.Topic)
		if name == "" {
			name = "bench"
		}
		t := s.topics[name]
		if t == nil {
			t = &topic{}
			s.topics[name] = t
		}
		// Subscribed before the head goes out, as every server.
		list := t.list(ws)
		c.State = &sub{topic: t, ws: ws, idx: len(*list)}
		*list = append(*list, c)
		if ws {
			s.frame = rawloop.AppendUpgrade(s.frame[:0], r.WSKey)
			s.l.Write(c, s.frame)
		} else {
			s.l.Write(c, sseHead)
		}
	case "/publish":
		name := string(r.Topic)
		if name == "" {
			name = "bench"
		}
		if t := s.topics[name]; t != nil {
			body := rawloop.Body(c.In, n, r)
			// One prebuilt message per kind, one write(2) per subscriber.
			// Backwards: a subscriber closed by a failed write is swapped
			// with the last one, which has already been written.
			s.frame = append(append(append(s.frame[:0], "data: "...), body...), "\n\n"...)
			for i := len(t.sse) - 1; i >= 0; i-- {
				s.l.Write(t.sse[i], s.frame)
			}
			s.frame = appendTextFrame(s.frame[:0], body)
			for i := len(t.ws) - 1; i >= 0; i-- {
				s.l.Write(t.ws[i], s.frame)
			}
		}
		s.l.Write(c, published)
	default:
		s.l.Write(c, rawloop.NotFound)
	}
}

func (s *server) onClose(c *rawloop.Conn) {
	sb, ok := c.State.(*sub)
	if !ok {
		return
	}
	list := sb.topic.list(sb.ws)
	last := len(*list) - 1
	moved := (*list)[last]
	(*list)[sb.idx] = moved
	moved.State.(*sub).idx = sb.idx
	*list = (*list)[:last]
}

// appendTextFrame appends an unmasked, final text frame (RFC 6455 Section 5.2).
func appendTextFrame(dst, p []byte) []byte {
	switch n := len(p); {
	case n < 126:
		dst = append(dst, 0x81, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x81, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x81, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, p...)
}
