package loop

import (
	"testing"
	"unsafe"
)

// TestIdleFootprint guards the per-connection memory budget of an idle
// stream (DESIGN §7: ≤ 1 KiB per SSE stream, gnet's own conn included):
// these structs sit in every open connection.
func TestIdleFootprint(t *testing.T) {
	if got := unsafe.Sizeof(Conn{}); got > 144 {
		t.Errorf("Conn is %d bytes; want ≤ 144 (the 144-byte size class)", got)
	}
	if got := unsafe.Sizeof(Subscription{}); got > 64 {
		t.Errorf("Subscription is %d bytes; want ≤ 64", got)
	}
}
