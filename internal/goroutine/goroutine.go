// Package goroutine identifies the running goroutine cheaply, so that
// methods documented "safe from any goroutine" can tell whether they run
// on the event loop that owns a connection (and may write directly) or
// must hand the work to it.
//
// On amd64 and arm64 the identity is the runtime's g pointer, read with
// one instruction; elsewhere it falls back to the OS thread id, which is
// exact because event loops are locked to their threads, but costs a
// system call.
package goroutine

// ID returns a value that differs between goroutines running at the
// same time. A goroutine's ID is stable while it lives; an exited
// goroutine's ID may be reused, so owners must clear a recorded ID when
// their goroutine ends. ID is never 0.
func ID() uintptr { return id() }
