//go:build !linux

package loop

// setReading is a no-op where the loop cannot change gnet's poller
// registration: input a connection cannot process then waits in its
// buffers, bounded by Config.MaxPendingInput and MaxBufferedInput.
func (el *eventLoop) setReading(c *Conn, on bool) {}
