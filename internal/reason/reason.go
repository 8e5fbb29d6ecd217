// Package reason sorts the error that loop.Mode.OnClose receives into who
// ended the connection, for the protocol packages (sse, ws, chunked) that
// hand it on to applications.
//
// The loop passes nil when the application closed the connection, one of
// its close-reason sentinels (loop.ErrWriteTimeout, loop.ErrShutdown, …)
// when it closed it itself, and gnet's error when the peer did: io.EOF or
// a reset, wrapped in an *os.SyscallError for the read or write that saw
// it.
package reason

import (
	"errors"
	"io"
	"os"
)

// FromPeer reports whether err is the peer's doing: it closed (io.EOF) or
// reset the connection, or a read or write on the socket failed.
func FromPeer(err error) bool {
	if err == nil {
		return false
	}
	var se *os.SyscallError
	return errors.Is(err, io.EOF) || errors.As(err, &se)
}

// FromLoop reports whether err is a reason of the loop's own (a timeout,
// an input overflow, the shutdown): neither nil nor the peer's.
func FromLoop(err error) bool { return err != nil && !FromPeer(err) }
