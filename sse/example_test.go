package sse_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/sse"
)

// The Ruby original's evented_stream, in Go: the handler opens a stream,
// sends what the client should see, and closes it. A plain net/http
// client reads the stream until the server closes it.
func ExampleOpen() {
	srv := loop.New(loop.Config{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	srv.GET("/subscribe", func(c *loop.Ctx) {
		sse.Open(c, sse.Options{}, func(s *sse.Stream) {
			s.Retry(10 * time.Second)           // stream.retry 10000
			s.Send("some string")               // stream << "some string"
			s.Event("greeting", "hello\nworld") // stream.event "greeting"
			s.ID("foo")                         // stream.id "foo"
			s.Close()                           // the client reconnects after 10 s
		})
	})
	ctx, shutdown := context.WithCancel(context.Background())
	defer shutdown()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-served:
		fmt.Println(err)
		return
	}

	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + srv.Addr().String() + "/subscribe")
	if err != nil {
		fmt.Println(err)
	} else {
		body, _ := io.ReadAll(resp.Body) // until the server closes the stream
		resp.Body.Close()
		fmt.Println(resp.Header.Get("Content-Type"))
		fmt.Print(string(body))
	}
	shutdown()
	<-served
	// Output:
	// text/event-stream
	// retry: 10000
	//
	// data: some string
	//
	// event: greeting
	// data: hello
	// data: world
	//
	// id: foo
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
