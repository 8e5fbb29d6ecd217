// Command gnetraw is the ceiling for the plaintext scenarios: raw gnet v2 that
// counts request terminators ("\r\n\r\n") and answers each with a canned
// "Hello, World!" response, all of an OnTraffic's responses in one Write. It
// parses nothing, so it serves /hello only (any request gets the canned answer).
package main

import (
	"bytes"
	"flag"
	"log"
	"runtime"

	"github.com/panjf2000/gnet/v2"
	"github.com/streamd/streamd/benchmarks/internal/rawloop"
)

var (
	crlf2 = []byte("\r\n\r\n")
	hello rawloop.DatedHello // the canned answer, its Date refreshed every second
)

type server struct {
	gnet.BuiltinEventEngine
}

type connState struct{ out []byte }

func (s *server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&connState{out: make([]byte, 0, 2048)})
	return nil, gnet.None
}

func (s *server) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Peek(-1)
	n, consumed := 0, 0
	for {
		i := bytes.Index(buf[consumed:], crlf2)
		if i < 0 {
			break
		}
		consumed += i + len(crlf2)
		n++
	}
	if n == 0 {
		return gnet.None
	}
	c.Discard(consumed)
	st := c.Context().(*connState)
	resp := hello.Bytes()
	out := st.out[:0]
	for range n {
		out = append(out, resp...)
	}
	st.out = out
	if _, err := c.Write(out); err != nil {
		return gnet.Close
	}
	return gnet.None
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	loops := flag.Int("loops", runtime.NumCPU(), "number of event loops")
	flag.Parse()
	hello.KeepFresh()
	err := gnet.Run(&server{}, "tcp://"+*addr,
		gnet.WithMulticore(*loops > 1),
		gnet.WithNumEventLoop(*loops),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(nopLogger{}),
	)
	if err != nil {
		log.Fatal(err)
	}
}

type nopLogger struct{}

func (nopLogger) Debugf(string, ...any) {}
func (nopLogger) Infof(string, ...any)  {}
func (nopLogger) Warnf(string, ...any)  {}
func (nopLogger) Errorf(string, ...any) {}
func (nopLogger) Fatalf(string, ...any) {}
