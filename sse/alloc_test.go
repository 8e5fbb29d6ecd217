//go:build !race

package sse

import (
	"strings"
	"testing"
)

func TestAppendEventAllocs(t *testing.T) {
	ev := Event{ID: "12345", Event: "chat", Data: strings.Repeat("line\r\n", 8)}
	dst := make([]byte, 0, 1024)
	n := testing.AllocsPerRun(100, func() {
		dst, _ = AppendEvent(dst[:0], &ev)
		dst = AppendComment(dst, "keep-alive")
	})
	if n != 0 {
		t.Errorf("AppendEvent + AppendComment allocs = %v; want 0", n)
	}
}
