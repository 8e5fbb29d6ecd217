package ws

import (
	"slices"
	"unicode/utf8"

	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/ws/internal/wsframe"
)

// Join subscribes the socket to topic on Options.Hub: every message
// published there arrives as a text frame (binary if not UTF-8). It
// returns ErrNoHub when Options.Hub is nil, and ErrSocketClosed on the
// loop once the socket is closing. Safe from any goroutine: from another
// goroutine the join happens asynchronously and only a failure to queue
// it is reported.
func (s *Socket) Join(topic string) error {
	if s.opts.Hub == nil {
		return ErrNoHub
	}
	if !s.conn.OnLoop() {
		return s.conn.Post(func(*loop.Conn) { _ = s.join(topic) })
	}
	return s.join(topic)
}

func (s *Socket) join(topic string) error {
	if s.state != stateOpen {
		return ErrSocketClosed
	}
	if s.sub != nil && s.sub.Topic() == topic {
		return nil
	}
	if s.x != nil {
		for _, sub := range s.x.subs {
			if sub.Topic() == topic {
				return nil
			}
		}
	}
	sub, _, _, err := s.opts.Hub.Subscribe(s.conn, topic, subscriber{s}, loop.Resume{})
	if err != nil {
		return err
	}
	if s.sub == nil && (s.x == nil || len(s.x.subs) == 0) {
		s.sub = sub
	} else {
		x := s.extra()
		x.subs = append(x.subs, sub)
	}
	return nil
}

// Leave unsubscribes the socket from topic. Safe from any goroutine: from
// another goroutine it happens asynchronously, and the error is that of
// handing it to the loop (loop.ErrQueueFull: nothing was done;
// loop.ErrServerClosed). On the loop it returns nil.
func (s *Socket) Leave(topic string) error {
	if !s.conn.OnLoop() {
		return s.conn.Post(func(*loop.Conn) { _ = s.Leave(topic) })
	}
	if s.sub != nil && s.sub.Topic() == topic {
		s.sub.Unsubscribe()
		s.sub = nil
		if x := s.x; x != nil && len(x.subs) > 0 {
			// Keep the order joined: the next one moves up.
			s.sub = x.subs[0]
			x.subs = slices.Delete(x.subs, 0, 1)
			if len(x.subs) == 0 {
				x.subs = nil
				s.tidy()
			}
		}
		return nil
	}
	if x := s.x; x != nil {
		for i, sub := range x.subs {
			if sub.Topic() == topic {
				sub.Unsubscribe()
				x.subs = slices.Delete(x.subs, i, i+1)
				if len(x.subs) == 0 {
					x.subs = nil
					s.tidy()
				}
				return nil
			}
		}
	}
	return nil
}

// Publish publishes text to topic on hub: WebSocket subscribers get it as
// a text frame, SSE subscribers as an event's data. Safe from any
// goroutine.
func Publish(hub *loop.Hub, topic string, text string) error {
	_, err := hub.Publish(topic, loop.Publication{Data: []byte(text)})
	return err
}

// hubCodec frames hub messages once for every WebSocket subscriber.
var hubCodec = loop.RegisterCodec(func(dst []byte, m *loop.Publication) []byte {
	op := wsframe.OpText
	if !utf8.Valid(m.Data) {
		op = wsframe.OpBinary
	}
	return wsframe.AppendFrame(dst, op, true, false, m.Data)
})

type subscriber struct{ s *Socket }

func (subscriber) Codec() loop.CodecID { return hubCodec }

// Overflow closes a slow socket with 1013 (try again later).
//
// The close frame queues behind the output the socket could not take, so
// the connection closes once that is flushed or after CloseTimeout,
// whichever comes first: a reader that stopped must not hold its backlog
// until the server's WriteTimeout. Leaving the topics here also stops
// the hub from calling Overflow again for every later message.
func (sb subscriber) Overflow(c *loop.Conn) {
	s := sb.s
	if s.state == stateOpen {
		s.closing(stateCloseSent)
		c.Write(appendClose(nil, CloseTryAgainLater, "too slow"))
		c.SetTimer(s.closeTimeout())
	}
	c.CloseAfterFlush()
}
