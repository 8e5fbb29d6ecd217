package loop

import (
	"context"
	"testing"

	"github.com/panjf2000/gnet/v2"
	gerrors "github.com/panjf2000/gnet/v2/pkg/errors"
)

// stoppingEngine is a gnet.EventLoop whose engine is shutting down:
// Execute fails, as gnet's does once the engine is in shutdown. Only
// Execute is implemented.
type stoppingEngine struct {
	gnet.EventLoop
}

func (stoppingEngine) Execute(context.Context, gnet.Runnable) error {
	return gerrors.ErrEngineInShutdown
}

// stoppingLoop returns an eventLoop on a stopping engine, with an empty,
// open task queue: the state in which a post races with Serve's end.
func stoppingLoop() *eventLoop {
	el := &eventLoop{gl: stoppingEngine{}}
	el.queue.limit = 16
	return el
}

// TestHubStoppedLoop checks that a topic with subscribers on a loop that
// has stopped (its queue refuses posts) keeps accepting publishes: the
// batches for that loop are dropped instead of filling its backlog.
func TestHubStoppedLoop(t *testing.T) {
	h := newTestHub(t, HubConfig{MaxBacklog: 4})
	tp, err := h.topic("s", true)
	if err != nil {
		t.Fatal(err)
	}
	el := stoppingLoop()
	el.queue.stop()
	tp.mu.Lock()
	tp.shards = append(tp.shards, &shard{t: tp, el: el, count: 1})
	tp.mu.Unlock()
	for i := range 10 {
		if _, err := h.Publish("s", Message{Data: []byte("x")}); err != nil {
			t.Fatalf("Publish #%d with a stopped loop: %v; want nil", i+1, err)
		}
	}
	if st := h.TopicStats("s"); st.Published != 10 || st.Dropped != 10 {
		t.Errorf("Published %d, Dropped %d; want 10, 10 (one subscriber on the stopped loop)", st.Published, st.Dropped)
	}
}
