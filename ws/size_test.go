package ws

import (
	"testing"
	"unsafe"
)

// TestIdleFootprint guards the per-connection memory budget of an idle
// WebSocket (DESIGN §7: ≤ 1 KiB per connection, gnet's own conn and
// loop.Conn included): a Socket, with its Decoder inline, sits in every
// open connection; the state of a message in progress does not.
func TestIdleFootprint(t *testing.T) {
	if got := unsafe.Sizeof(Socket{}); got > 128 {
		t.Errorf("Socket is %d bytes; want ≤ 128 (the 128-byte size class)", got)
	}
	if got := unsafe.Sizeof(Decoder{}); got > 32 {
		t.Errorf("Decoder is %d bytes; want ≤ 32", got)
	}
}

// TestIdleSocketHoldsNothing checks that a socket drops its out-of-line
// state once a fragmented message, a compressed message (without context
// takeover) or a big spilled frame has been delivered.
func TestIdleSocketHoldsNothing(t *testing.T) {
	var s Socket
	s.dec.Init(DecoderConfig{Deflate: true, ClientNoContextTakeover: true})
	in := cat(cf(OpText, false, "frag"), cf(OpContinuation, true, "ment"),
		cfz(OpText, true, deflateStdNoCtx(t, "compressed")))
	for len(in) > 0 {
		ev, n, err := s.dec.Next(in)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == EventMessage {
			s.dec.release()
			if s.dec.msg != nil {
				t.Fatalf("message state kept after %q", ev.Payload)
			}
		}
		in = in[n:]
	}
}
