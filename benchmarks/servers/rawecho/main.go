// Command rawecho is the ceiling for the WebSocket echo scenario: one epoll
// loop (internal/rawloop), no WebSocket library. It answers the opening
// handshake of GET /ws/echo (a 101 with the right Sec-WebSocket-Accept),
// then echoes: each read(2) is written straight back with one write(2), no
// parsing, unmasking or framing. The client's masked frames therefore come
// back masked, 4 bytes longer than a real server's frames; the load client
// unmasks what it reads either way, so it measures rawecho as it measures
// every server. A server's echo cannot cost less than this read and write
// (plus its share of epoll_wait).
//
// It also answers GET /hello so the driver can tell it is up. -loops sets
// GOMAXPROCS; the server runs one loop whatever it is.
package main

import (
	"flag"
	"log"
	"runtime"

	"github.com/streamd/streamd/benchmarks/internal/rawloop"
)

type echoing struct{}

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
	var (
		req   rawloop.Request
		frame []byte
	)
	l.OnData = func(c *rawloop.Conn, data []byte) {
		if c.State != nil {
			l.Write(c, data) // the echo: the same bytes back
			return
		}
		c.In = append(c.In, data...)
		for len(c.In) > 0 && c.State == nil {
			n := rawloop.ParseRequest(c.In, &req)
			if n == 0 {
				return
			}
			if n < 0 {
				l.Close(c)
				return
			}
			switch string(req.Path) {
			case "/hello":
				l.Write(c, rawloop.Hello)
			case "/ws/echo":
				c.State = echoing{}
				frame = rawloop.AppendUpgrade(frame[:0], req.WSKey)
				l.Write(c, frame)
			default:
				l.Write(c, rawloop.NotFound)
			}
			c.In = c.In[:copy(c.In, c.In[n:])]
		}
		if c.State != nil {
			// Frames that came with the handshake: echo them too.
			l.Write(c, c.In)
			c.In = nil
		}
	}
	log.Fatal(l.Run())
}
