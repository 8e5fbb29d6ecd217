package sse

import (
	"testing"
	"unsafe"
)

// TestIdleFootprint guards the per-stream memory budget (DESIGN §7).
func TestIdleFootprint(t *testing.T) {
	if got := unsafe.Sizeof(Stream{}); got > 112 {
		t.Errorf("Stream is %d bytes; want ≤ 112 (the 112-byte size class)", got)
	}
}
