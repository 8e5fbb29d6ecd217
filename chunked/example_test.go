package chunked_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/streamd/streamd/chunked"
	"github.com/streamd/streamd/loop"
)

// A producer goroutine that may block (a database cursor, say): Write
// blocks while the client is slow and fails once it is gone. net/http
// decodes the chunks.
func ExampleGo() {
	srv := loop.New(loop.Config{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	srv.GET("/export", func(c *loop.Ctx) {
		chunked.Go(c, chunked.Options{ContentType: "text/csv"}, func(w *chunked.Writer) error {
			for i := 1; i <= 3; i++ {
				if _, err := w.Write([]byte(strconv.Itoa(i) + ",row\n")); err != nil {
					return err // the client is gone
				}
			}
			return nil // sends the terminating chunk
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
	resp, err := client.Get("http://" + srv.Addr().String() + "/export")
	if err != nil {
		fmt.Println(err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.TransferEncoding, resp.Header.Get("Content-Type"))
		fmt.Print(string(body))
	}
	client.CloseIdleConnections()
	shutdown()
	<-served
	// Output:
	// [chunked] text/csv
	// 1,row
	// 2,row
	// 3,row
}

// A response driven by the loop's timing wheel: no goroutine and no
// timer per response. Each line goes out one tick (loop.TickInterval)
// after the previous one.
func ExampleWriter_After() {
	srv := loop.New(loop.Config{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	srv.GET("/countdown", func(c *loop.Ctx) {
		w := chunked.Start(c, chunked.Options{})
		n := 3
		var tick func()
		tick = func() {
			if n == 0 {
				_ = w.Close()
				return
			}
			w.Send([]byte(strconv.Itoa(n) + "\n"))
			n--
			w.After(loop.TickInterval, tick)
		}
		tick()
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
	resp, err := client.Get("http://" + srv.Addr().String() + "/countdown")
	if err != nil {
		fmt.Println(err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Print(string(body))
	}
	client.CloseIdleConnections()
	shutdown()
	<-served
	// Output:
	// 3
	// 2
	// 1
}
