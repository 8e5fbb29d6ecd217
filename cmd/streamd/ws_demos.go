package main

import (
	"time"

	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/ws"
)

// wsDemos holds the WebSocket demos: the chat wall and an echo endpoint.
type wsDemos struct {
	hub *loop.Hub
	up  *ws.Upgrader
}

func newWSDemos(hub *loop.Hub) *wsDemos {
	return &wsDemos{hub: hub, up: &ws.Upgrader{Options: ws.Options{
		Hub: hub,
		// Server context takeover would keep a flate writer (~800 KB) per
		// socket; without it every message compresses on its own.
		Compression: ws.DeflateConfig{Enabled: true, ServerNoContextTakeover: true},
	}}}
}

func (d *wsDemos) routes(a *app) {
	a.srv.GET("/ws/chat", d.chat)
	a.srv.GET("/ws/echo", d.echo)
	a.srv.GET("/chat/ws", a.page("chat_ws.html"))
}

// chat is the websocket-chat example: a welcome, then every text message
// is published to all chat sockets as "HH:MM:SS: <message>".
func (d *wsDemos) chat(c *loop.Ctx) {
	d.up.Upgrade(c, ws.Handler{
		OnOpen: func(s *ws.Socket) {
			s.Send("Welcome to the wall")
			_ = s.Join("wall")
		},
		OnMessage: func(s *ws.Socket, m ws.Message) {
			if m.Op != ws.OpText {
				return
			}
			if len(m.Data) == 0 || len(m.Data) > maxChatMessage {
				s.Send("messages must be 1 to 2000 bytes")
				return
			}
			_ = ws.Publish(d.hub, "wall", time.Now().Format(time.TimeOnly)+": "+m.Text())
		},
		OnError: func(s *ws.Socket, err error) {
			if !s.Closed() {
				_ = s.Close(ws.CloseInternalError, "")
			}
		},
	})
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
