package ws_test

import (
	"time"

	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/ws"
)

// The Ruby original's websocket wall, in Go.
func ExampleUpgrade() {
	srv := loop.New(loop.Config{Addr: ":8080"})
	srv.GET("/ws", func(c *loop.Ctx) {
		ws.Upgrade(c, ws.Handler{
			OnOpen: func(s *ws.Socket) { s.Send("Welcome to the wall") },
			OnMessage: func(s *ws.Socket, m ws.Message) {
				s.Send(time.Now().Format(time.TimeOnly) + ": " + m.Text())
			},
			OnError: func(s *ws.Socket, err error) {
				if !s.Closed() {
					_ = s.Close(ws.CloseInternalError, "")
				}
			},
		})
	})
}
