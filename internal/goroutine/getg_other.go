//go:build ((!amd64 && !arm64) || purego) && linux && !goroutine_stack

package goroutine

import "syscall"

// id falls back to the thread id: exact for goroutines locked to their
// threads (event loops), which is all the callers compare against: no
// other goroutine ever runs on a locked thread, so none can share its id.
func id() uintptr { return uintptr(syscall.Gettid()) }
