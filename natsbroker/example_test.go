package natsbroker_test

import (
	"context"
	"fmt"
	"os"

	"github.com/streamd/streamd/natsbroker"
)

// A single node keeping its topics in a directory (streamd -store DIR): a
// watched topic's messages are delivered, and History serves them again,
// also after a restart on the same directory.
func ExampleEmbedded() {
	dir, err := os.MkdirTemp("", "streamd-store")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	b, stop, err := natsbroker.Embedded(ctx, dir, natsbroker.Options{})
	if err != nil {
		panic(err)
	}
	delivered := make(chan natsbroker.Delivery, 1)
	if err := b.Start(func(d natsbroker.Delivery) error { delivered <- d; return nil }); err != nil {
		panic(err)
	}
	b.Watch("wall")
	seq, err := b.Publish(ctx, "wall", natsbroker.Delivery{Event: "post", Data: []byte("hello")})
	if err != nil {
		panic(err)
	}
	d := <-delivered
	fmt.Printf("delivered %s #%d %s: %s\n", d.Topic, d.Seq, d.Event, d.Data)
	epoch := b.Epoch()
	if err := stop(); err != nil {
		panic(err)
	}

	b, stop, err = natsbroker.Embedded(ctx, dir, natsbroker.Options{})
	if err != nil {
		panic(err)
	}
	defer stop()
	ds, complete, err := b.History(ctx, []string{"wall"}, seq-1, 100)
	if err != nil {
		panic(err)
	}
	fmt.Printf("after a restart: same epoch %v, %d message %q, complete %v\n", b.Epoch() == epoch, len(ds), ds[0].Data, complete)
	// Output:
	// delivered wall #1 post: hello
	// after a restart: same epoch true, 1 message "hello", complete true
}
