package sse

import (
	"testing"
	"unsafe"
)

// TestIdleFootprint guards the per-stream memory budget (DESIGN §7).
func TestIdleFootprint(t *testing.T) {
	if got := unsafe.Sizeof(Stream{}); got > 128 {
		t.Errorf("Stream is %d bytes; want ≤ 128 (the 128-byte size class)", got)
	}
}
