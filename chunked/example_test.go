package chunked_test

import (
	"strconv"
	"time"

	"github.com/streamd/streamd/chunked"
	"github.com/streamd/streamd/loop"
)

// A producer goroutine that may block (a database cursor, say): Write
// blocks while the client is slow and fails once it is gone.
func ExampleGo() {
	srv := loop.New(loop.Config{Addr: ":8080"})
	srv.GET("/export", func(c *loop.Ctx) {
		chunked.Go(c, chunked.Options{ContentType: "text/csv"}, func(w *chunked.Writer) error {
			for i := 0; i < 1000; i++ {
				if _, err := w.Write([]byte(strconv.Itoa(i) + ",row\n")); err != nil {
					return err // the client is gone
				}
			}
			return nil // sends the terminating chunk
		})
	})
}

// A response driven by the loop's timers: no goroutine at all.
func ExampleWriter_After() {
	srv := loop.New(loop.Config{Addr: ":8080"})
	srv.GET("/countdown", func(c *loop.Ctx) {
		w := chunked.Start(c, chunked.Options{})
		n := 10
		var tick func()
		tick = func() {
			if n == 0 {
				_ = w.Close()
				return
			}
			w.Send([]byte(strconv.Itoa(n) + "\n"))
			n--
			w.After(time.Second, tick)
		}
		tick()
	})
}
