//go:build (amd64 || arm64) && !goroutine_stack && !purego

package goroutine

// getg returns the runtime's pointer to the current goroutine.
func getg() uintptr

func id() uintptr { return getg() }
