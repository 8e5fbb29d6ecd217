package loop_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/streamd/streamd/loop"
)

// A server with one route on a free port: start it, wait until it
// accepts connections, GET the route with net/http, then shut down
// gracefully. Serve returns nil after a clean shutdown.
func Example() {
	srv := loop.New(loop.Config{
		Addr:   "127.0.0.1:0", // a free port: srv.Addr() says which once Ready
		Logger: slog.New(slog.DiscardHandler),
	})
	srv.GET("/hello/:name", func(c *loop.Ctx) { // runs on the loop: never block here
		c.Text(200, "Hello, "+c.Param("name")+"!")
	})

	ctx, shutdown := context.WithCancel(context.Background())
	defer shutdown()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-served: // it could not listen
		fmt.Println(err)
		return
	}

	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + srv.Addr().String() + "/hello/gopher")
	if err != nil {
		fmt.Println(err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Status)
		fmt.Println(string(body))
	}
	client.CloseIdleConnections()

	shutdown() // Serve closes the listener, finishes what is in flight and returns
	fmt.Println("Serve returned", <-served)
	// Output:
	// 200 OK
	// Hello, gopher!
	// Serve returned <nil>
}
