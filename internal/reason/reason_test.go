package reason

import (
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"

	"github.com/streamd/streamd/loop"
)

func TestFromPeerFromLoop(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		peer, loop bool
	}{
		{"nil", nil, false, false},
		{"eof", os.NewSyscallError("read", io.EOF), true, false},
		{"bare eof", io.EOF, true, false},
		{"reset", os.NewSyscallError("read", syscall.ECONNRESET), true, false},
		{"broken pipe", os.NewSyscallError("write", syscall.EPIPE), true, false},
		{"write timeout", loop.ErrWriteTimeout, false, true},
		{"shutdown", loop.ErrShutdown, false, true},
		{"wrapped overflow", fmt.Errorf("x: %w", loop.ErrInputOverflow), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, l := FromPeer(tt.err), FromLoop(tt.err); p != tt.peer || l != tt.loop {
				t.Errorf("FromPeer(%v), FromLoop(%v) = %v, %v; want %v, %v", tt.err, tt.err, p, l, tt.peer, tt.loop)
			}
		})
	}
}
