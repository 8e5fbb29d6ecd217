package loop_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/streamd/streamd/chunked"
	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/sse"
)

// The body of a program embedding streamd, as in the README: a plain
// route, an event stream joined to a topic, a chunked export produced by
// a goroutine, and a publisher. It serves until SIGINT or SIGTERM, then
// shuts down gracefully and exits 0. (Not run as a test: it listens on
// :8080 until a signal.)
func Example_embedding() {
	srv := loop.New(loop.Config{Addr: ":8080"})
	hub, err := loop.NewHub(loop.HubConfig{})
	if err != nil {
		log.Fatal(err)
	}

	srv.GET("/hello", func(c *loop.Ctx) { c.Text(200, "Hello, World!") })

	srv.GET("/subscribe", func(c *loop.Ctx) { // evented_stream :keep_open
		sse.Open(c, sse.Options{Hub: hub}, func(s *sse.Stream) {
			s.Send("some string")                // stream << "some string"
			s.Event("time", time.Now().String()) // stream.event "time"
			s.ID("foo")                          // stream.id "foo"
			s.Retry(10 * time.Second)            // stream.retry 10000
			s.Join("wall")                       // everything published to "wall"
		})
	})

	srv.GET("/export", func(c *loop.Ctx) { // chunked_stream
		chunked.Go(c, chunked.Options{ContentType: "text/csv"}, func(w *chunked.Writer) error {
			for i := range 1000 { // runs off the loop: it may block
				if _, err := fmt.Fprintf(w, "%d,row\n", i); err != nil { // blocks under backpressure
					return err // the client is gone
				}
			}
			return nil // the terminating chunk
		})
	})

	go func() { // publish from any goroutine
		for t := range time.Tick(time.Second) {
			sse.Publish(hub, "wall", sse.Event{Event: "tick", Data: t.Format(time.TimeOnly)})
		}
	}()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Serve(ctx); err != nil { // nil after a graceful shutdown
		log.Fatal(err)
	}
}
