package sse_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/sse"
)

// A topic on a hub: every stream joined to "wall" receives what is
// published to it, from any goroutine, on whichever loop the stream
// lives. The event is encoded once, however many streams receive it.
func ExamplePublish() {
	hub, err := loop.NewHub(loop.HubConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer hub.Close()
	srv := loop.New(loop.Config{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	srv.GET("/wall", func(c *loop.Ctx) {
		sse.Open(c, sse.Options{Hub: hub}, func(s *sse.Stream) {
			_ = s.Join("wall")
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
	resp, err := client.Get("http://" + srv.Addr().String() + "/wall")
	if err != nil {
		fmt.Println(err)
	} else {
		// The response head leaves the server when the handler returns,
		// after Join: a client that has it is subscribed.
		if _, err := sse.Publish(hub, "wall", sse.Event{ID: "1", Event: "note", Data: "hello"}); err != nil {
			fmt.Println(err)
		}
		r := bufio.NewReader(resp.Body)
		for { // one event: its lines up to the empty line
			line, err := r.ReadString('\n')
			fmt.Print(line)
			if line == "\n" || err != nil {
				break
			}
		}
		resp.Body.Close()
	}
	shutdown() // ends the stream: an EventSource would reconnect elsewhere
	<-served
	// Output:
	// event: note
	// id: 1
	// data: hello
}
