package sse_test

import (
	"fmt"
	"time"

	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/sse"
)

// The Ruby original's evented_stream, in Go.
func ExampleOpen() {
	srv := loop.New(loop.Config{Addr: ":8080"})
	hub, _ := loop.NewHub(loop.HubConfig{})
	srv.GET("/subscribe", func(c *loop.Ctx) {
		sse.Open(c, sse.Options{Hub: hub}, func(s *sse.Stream) {
			s.Send("some string")                       // stream << "some string"
			_, _ = s.Event("time", time.Now().String()) // stream.event "time"
			_, _ = s.ID("foo")                          // stream.id "foo"
			s.Retry(10 * time.Second)                   // stream.retry 10000
			_ = s.Join("wall")                          // everything published to "wall"
		})
	})
	// From any goroutine:
	_, _ = sse.Publish(hub, "wall", sse.Event{Event: "note", Data: "hello\nworld"})
}

func ExampleAppendEvent() {
	frame, _ := sse.AppendEvent(nil, &sse.Event{ID: "7", Event: "greeting", Data: "hello\nworld"})
	fmt.Print(string(frame))
	// Output:
	// event: greeting
	// id: 7
	// data: hello
	// data: world
}
