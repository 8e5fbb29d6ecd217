//go:build !race && !goroutine_stack

package loop

import (
	"testing"
	"time"
)

// TestConnWriteAllocs checks that Write and Writev, their one path,
// allocate nothing, corked (inside the connection's callback) and written
// at once (from a task). AllocsPerRun runs on the loop, inside a Post
// task; its average is an integer, so the rare allocation of another
// goroutine (the ticker's task) does not show. Not with -tags
// goroutine_stack: that goroutine ID, which every on-loop check reads,
// parses runtime.Stack and allocates.
func TestConnWriteAllocs(t *testing.T) {
	c, _ := heldConn(t)
	h, p, crlf := []byte("5\r\n"), []byte("hello"), []byte("\r\n")
	corked := func(f func()) func() {
		return func() {
			prev := c.el.cork(c)
			f()
			c.el.uncork(prev)
		}
	}
	write := func() { c.Write(p) }
	writev := func() { c.Writev(h, p, crlf) }
	checks := []struct {
		name string
		f    func()
	}{
		{"Write", write},
		{"Writev", writev},
		{"Write corked", corked(write)},
		{"Writev corked", corked(writev)},
	}
	for _, ck := range checks {
		got := make(chan float64, 1)
		if err := c.Post(func(*Conn) { ck.f(); got <- testing.AllocsPerRun(100, ck.f) }); err != nil {
			t.Fatal(err)
		}
		select {
		case n := <-got:
			if n != 0 {
				t.Errorf("%s: %v allocs; want 0", ck.name, n)
			}
		case <-time.After(testTimeout):
			t.Fatalf("%s: the task did not run", ck.name)
		}
	}
}
