package main

import (
	"log/slog"
	"sync"
	"time"

	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/ws"
)

// wsDemos holds the WebSocket demos: the chat wall and an echo endpoint.
type wsDemos struct {
	hub *loop.Hub
	up  *ws.Upgrader

	// With a NATS broker a publish waits for its acknowledgement: lines
	// go to one goroutine, in order, through a bounded queue (full: the
	// line is dropped and logged), never blocking the loop.
	pubq    chan string
	pubDone chan struct{}
	log     *slog.Logger

	// The wall's recent lines, oldest first, for sockets that ask for
	// them: ws has no resume of its own, so the demo keeps the list.
	// wallMu orders a publish (and its append) against a new socket's
	// copy and join, so every line reaches it exactly once.
	wallMu sync.Mutex
	recent []string
}

func newWSDemos(hub *loop.Hub, remote bool, log *slog.Logger) *wsDemos {
	d := &wsDemos{hub: hub, log: log, up: &ws.Upgrader{Options: ws.Options{
		Hub: hub,
		// Server context takeover would keep a flate writer (~800 KB) per
		// socket; without it every message compresses on its own.
		Compression: ws.DeflateConfig{Enabled: true, ServerNoContextTakeover: true},
	}}}
	if remote {
		d.pubq, d.pubDone = make(chan string, wallQueue), make(chan struct{})
		go func() {
			defer close(d.pubDone)
			for line := range d.pubq {
				d.publish(line)
			}
		}()
	}
	return d
}

// wallQueue bounds the lines waiting for a NATS publish.
const wallQueue = 256

// stop ends the publishing goroutine, after the lines it holds.
func (d *wsDemos) stop() {
	if d.pubq != nil {
		close(d.pubq)
		<-d.pubDone
	}
}

// say puts a line on the wall: at once with the in-process hub, through
// the publishing goroutine with NATS.
func (d *wsDemos) say(line string) {
	if d.pubq == nil {
		d.publish(line)
		return
	}
	select {
	case d.pubq <- line:
	default:
		d.log.Warn("wall line dropped: the NATS publish queue is full")
	}
}

func (d *wsDemos) routes(a *app) {
	a.srv.GET("/ws/chat", d.chat)
	a.srv.GET("/ws/echo", d.echo)
	a.srv.GET("/chat/ws", a.page("chat_ws.html"))
}

// wallWelcome is the first message of a chat socket (after the recent
// lines, when it asked for them): the socket is on the wall by then.
const wallWelcome = "Welcome to the wall"

// chat is the websocket-chat example: every text message is published to
// all chat sockets as "HH:MM:SS: <message>". A socket opened as
// /ws/chat?history=1 first gets the wall's recent lines (up to
// chatHistory), then the welcome.
func (d *wsDemos) chat(c *loop.Ctx) {
	_, history := c.Query("history")
	d.up.Upgrade(c, ws.Handler{
		OnOpen: func(s *ws.Socket) {
			d.wallMu.Lock()
			if history {
				for _, line := range d.recent {
					s.Send(line)
				}
			}
			_ = s.Join("wall")
			d.wallMu.Unlock()
			s.Send(wallWelcome)
		},
		OnMessage: func(s *ws.Socket, m ws.Message) {
			if m.Op != ws.OpText {
				return
			}
			if len(m.Data) == 0 || len(m.Data) > maxChatMessage {
				s.Send("messages must be 1 to 2000 bytes")
				return
			}
			d.say(time.Now().Format(time.TimeOnly) + ": " + m.Text())
		},
		OnError: func(s *ws.Socket, err error) {
			if !s.Closed() {
				_ = s.Close(ws.CloseInternalError, "")
			}
		},
	})
}

// publish puts line on the wall and keeps it among the recent lines.
// With the in-process hub the publish happens under wallMu, which orders
// it against a new socket's copy of the recent lines and its join, so
// every line reaches it exactly once. With NATS the round trip happens
// outside the lock (which the loop takes): a socket joining meanwhile may
// see a line twice, and the recent lines are this node's only.
func (d *wsDemos) publish(line string) {
	if d.pubq != nil {
		if err := ws.Publish(d.hub, "wall", line); err != nil {
			d.log.Warn("wall line not published", slog.Any("err", err))
			return
		}
		d.wallMu.Lock()
		d.remember(line)
		d.wallMu.Unlock()
		return
	}
	d.wallMu.Lock()
	defer d.wallMu.Unlock()
	if ws.Publish(d.hub, "wall", line) != nil {
		return // the hub refused it (backlog): nobody saw it
	}
	d.remember(line)
}

// remember keeps line among the recent lines. Under wallMu.
func (d *wsDemos) remember(line string) {
	if len(d.recent) == chatHistory {
		d.recent = append(d.recent[:0], d.recent[1:]...)
	}
	d.recent = append(d.recent, line)
}

// echo sends every message back unchanged (conformance and benchmarks).
func (d *wsDemos) echo(c *loop.Ctx) {
	d.up.Upgrade(c, ws.Handler{
		OnMessage: func(s *ws.Socket, m ws.Message) {
			if m.Op == ws.OpText {
				_, _ = s.SendText(m.Data)
			} else {
				s.SendBinary(m.Data)
			}
		},
	})
}
