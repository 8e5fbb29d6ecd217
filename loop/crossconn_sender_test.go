package loop_test

import (
	"testing"

	"github.com/streamd/streamd/chunked"
	"github.com/streamd/streamd/loop"
)

// The kind of D callback that needs loop.Sender (added with "one
// goroutine-send admission path"); kept apart from crossconn_test.go so
// that the rest of the matrix also builds against the commit before it.

// senderKind acts on C from a write function of D's loop.Sender: a
// goroutine of D sends through the admission path of sse, ws and chunked,
// and its function runs on the loop in D's corked batch.
func senderKind() crossKind {
	return crossKind{
		name: "goroutine-sender", request: reqClose("/d"), want: chunkedD,
		route: func(t *testing.T, s *loop.Server, _ *registry, act func()) {
			s.GET("/d", func(c *loop.Ctx) {
				w := chunked.Start(c, chunked.Options{})
				w.Send([]byte("d0"))
				conn := c.Conn()
				snd := new(loop.Sender)
				go func() {
					if r := snd.Send(conn, 2, 1<<20, false, func(*loop.Conn) { actAndFinish(w, act) }); r == loop.Dropped {
						t.Errorf("Sender.Send = Dropped; want it admitted")
					}
				}()
			})
		},
	}
}

// TestCrossConnOutputOwnershipSender is TestCrossConnOutputOwnership for
// an action made in a loop.Sender batch of D.
func TestCrossConnOutputOwnershipSender(t *testing.T) {
	runCrossMatrix(t, []crossKind{senderKind()}, false)
}
