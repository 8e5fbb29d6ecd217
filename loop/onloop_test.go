package loop

import (
	"strings"
	"testing"
	"time"
)

// TestLoopOnlyMethodsPanicOffLoop: methods documented "on the loop" check
// it and panic with their name when called from another goroutine, instead
// of racing silently; the methods documented safe from any goroutine work
// from one.
func TestLoopOnlyMethodsPanicOffLoop(t *testing.T) {
	conn, c := heldConn(t)
	hub, err := NewHub(HubConfig{})
	if err != nil {
		t.Fatal(err)
	}
	subbed := make(chan *Subscription, 1)
	if err := conn.Post(func(c *Conn) {
		sub, _, _, err := hub.Subscribe(c, "t", &hubSub{}, Resume{})
		if err != nil {
			t.Error(err)
		}
		subbed <- sub
	}); err != nil {
		t.Fatal(err)
	}
	sub := <-subbed

	calls := map[string]func(){
		"Conn.Write":           func() { conn.Write([]byte("x")) },
		"Conn.Writev":          func() { conn.Writev([]byte("x")) },
		"Conn.Buffered":        func() { conn.Buffered() },
		"Conn.WantDrain":       func() { conn.WantDrain() },
		"Conn.SetTimer":        func() { conn.SetTimer(time.Second) },
		"Conn.Close":           func() { conn.Close() },
		"Conn.CloseAfterFlush": func() { conn.CloseAfterFlush() },
		"Conn.EndMode":         func() { conn.EndMode(true) },
		"Conn.PauseInput":      func() { conn.PauseInput(time.Second) },
		"Conn.Closed":          func() { conn.Closed() },
		"Conn.TLS":             func() { conn.TLS() },
		"Subscription.Drained": func() { sub.Drained() },
	}
	for name, call := range calls {
		func() {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.Contains(msg, name) {
					t.Errorf("%s off the loop: recovered %v; want a panic naming %s", name, r, name)
				}
			}()
			call()
		}()
	}

	// Safe from any goroutine: ID, RemoteAddr, OnLoop, Post.
	if conn.ID() == 0 || conn.RemoteAddr() == nil || conn.OnLoop() {
		t.Errorf("ID %d, RemoteAddr %v, OnLoop %v from a goroutine", conn.ID(), conn.RemoteAddr(), conn.OnLoop())
	}
	done := make(chan bool, 1)
	if err := conn.Post(func(c *Conn) { done <- c.OnLoop() }); err != nil {
		t.Fatal(err)
	}
	if !<-done {
		t.Error("Post ran fn off the loop")
	}
	// The connection is intact: it closes on the loop.
	if err := conn.Post(func(c *Conn) { c.Close() }); err != nil {
		t.Fatal(err)
	}
	c.expectClosed()
}

// heldConn starts a one-loop server and returns the connection of a
// client, and the client, whose request the server took over with a
// nopMode (no response head).
func heldConn(t *testing.T) (*Conn, *rawConn) {
	t.Helper()
	conns := make(chan *Conn, 1)
	ts := startServer(t, Config{Loops: 1}, func(s *Server) {
		s.GET("/hold", func(c *Ctx) { conns <- c.TakeOver(nopMode{}) })
	})
	c := dial(t, ts.addr)
	c.send(get("/hold"))
	select {
	case conn := <-conns:
		return conn, c
	case <-time.After(testTimeout):
		t.Fatal("the request was not taken over")
		return nil, nil
	}
}

type nopMode struct{}

func (nopMode) OnData(_ *Conn, in []byte) (int, error) { return len(in), nil }
func (nopMode) OnTimer(*Conn)                          {}
func (nopMode) OnDrain(*Conn)                          {}
func (nopMode) OnShutdown(c *Conn)                     { c.Close() }
func (nopMode) OnClose(*Conn, error)                   {}
