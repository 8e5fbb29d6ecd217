//go:build (!amd64 && !arm64 && !linux) || goroutine_stack || (purego && !linux)

package goroutine

import (
	"bytes"
	"runtime"
	"strconv"
)

// id parses the goroutine id from the header of runtime.Stack
// ("goroutine 42 [running]:"): slow (about a microsecond) but exact, for
// the platforms with neither the g-pointer assembly nor gettid(2).
func id() uintptr {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	n, _ := strconv.ParseUint(string(b), 10, 64)
	return uintptr(n)
}
