package ws

import (
	"testing"
	"unsafe"
)

// TestIdleFootprint guards the per-connection memory budget of an idle
// WebSocket (DESIGN §7: ≤ 1 KiB per connection, gnet's own conn and
// loop.Conn included): a Socket, with its Decoder inline, sits in every
// open connection; the state of a message in progress does not (the
// Decoder's own size and release are tested in wsframe).
func TestIdleFootprint(t *testing.T) {
	if got := unsafe.Sizeof(Socket{}); got > 128 {
		t.Errorf("Socket is %d bytes; want ≤ 128 (the 128-byte size class)", got)
	}
}
