package wsframe

import (
	"testing"
	"unsafe"
)

// TestIdleFootprint guards the per-connection memory budget of an idle
// WebSocket (DESIGN §7: ≤ 1 KiB per connection): a Decoder sits inline in
// every ws.Socket; the state of a message in progress does not.
func TestIdleFootprint(t *testing.T) {
	if got := unsafe.Sizeof(Decoder{}); got > 32 {
		t.Errorf("Decoder is %d bytes; want ≤ 32", got)
	}
}

// TestReleaseHoldsNothing checks that a Decoder drops its out-of-line
// state on Release once a fragmented message or a compressed message
// (without context takeover) has been delivered.
func TestReleaseHoldsNothing(t *testing.T) {
	var d Decoder
	d.Init(DecoderConfig{Deflate: true, ClientNoContextTakeover: true})
	in := cat(cf(OpText, false, "frag"), cf(OpContinuation, true, "ment"),
		cfz(OpText, true, deflateStdNoCtx(t, "compressed")))
	for len(in) > 0 {
		ev, n, err := d.Next(in)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == EventMessage {
			d.Release()
			if d.msg != nil {
				t.Fatalf("message state kept after %q", ev.Payload)
			}
		}
		in = in[n:]
	}
}
