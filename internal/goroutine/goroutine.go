// Package goroutine identifies the running goroutine cheaply, so that
// methods documented "safe from any goroutine" can tell whether they run
// on the event loop that owns a connection (and may write directly) or
// must hand the work to it.
//
// On amd64 and arm64 the identity is the runtime's g pointer, read with
// one instruction; elsewhere it falls back to the OS thread id on Linux,
// which is exact because event loops are locked to their threads, but
// costs a system call, and to the goroutine id parsed from runtime.Stack
// on other systems. Build tags choose the fallbacks on any architecture:
// purego (the usual tag for "no assembly") the thread id on Linux and the
// stack parser elsewhere, goroutine_stack the stack parser.
package goroutine

// ID returns a value that differs between goroutines running at the
// same time. A goroutine's ID is stable while it lives; an exited
// goroutine's ID may be reused, so owners must clear a recorded ID when
// their goroutine ends. ID is never 0.
func ID() uintptr { return id() }
