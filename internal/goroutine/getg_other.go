//go:build !amd64 && !arm64

package goroutine

import "syscall"

// id falls back to the thread id: exact for goroutines locked to their
// threads (event loops), which is all the callers compare against.
func id() uintptr { return uintptr(syscall.Gettid()) }
