package loop

import (
	"context"
	"errors"
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

// stoppingLoop returns an eventLoop of a server that is not serving, on
// a stopping engine, with an empty, open task queue: the state in which a
// post races with the engine's end.
func stoppingLoop() *eventLoop {
	el := &eventLoop{srv: New(Config{Logger: testLogger()}), gl: stoppingEngine{}}
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
	h.deliverMu.Lock()
	tp.shards = append(tp.shards, &shard{t: tp, el: el, count: 1})
	h.deliverMu.Unlock()
	for i := range 10 {
		if _, err := h.Publish("s", Publication{Data: []byte("x")}); err != nil {
			t.Fatalf("Publish #%d with a stopped loop: %v; want nil", i+1, err)
		}
	}
	if st := h.TopicStats("s"); st.Published != 10 || st.Dropped != 10 {
		t.Errorf("Published %d, Dropped %d; want 10, 10 (one subscriber on the stopped loop)", st.Published, st.Dropped)
	}
}

// TestHubPostWhileEngineStops checks that a task posted while the engine
// stops returns an error, never silence. The hub posts every delivery
// batch with postControl, and sse/ws/chunked post sends and closes: a nil
// error promises the task runs.
//
// A failed wake-up must be reported to the poster whose task it was, and
// that task must not stay queued (a task whose post failed never runs).
func TestHubPostWhileEngineStops(t *testing.T) {
	for _, tt := range []struct {
		name string
		post func(*eventLoop, func()) error
	}{
		{"post", (*eventLoop).post},
		{"postControl", (*eventLoop).postControl},
	} {
		t.Run(tt.name, func(t *testing.T) {
			el := stoppingLoop()
			if err := tt.post(el, func() {}); !errors.Is(err, ErrServerClosed) {
				t.Errorf("%s while the engine stops = %v; want ErrServerClosed (the task never runs)", tt.name, err)
			}
			if n := len(el.queue.tasks); n != 0 {
				t.Errorf("%d tasks left in the stopped queue; want 0 (a refused task must never run)", n)
			}
			if err := tt.post(el, func() {}); !errors.Is(err, ErrServerClosed) {
				t.Errorf("second %s = %v; want ErrServerClosed", tt.name, err)
			}
		})
	}
	// What the hub sees: its first post to the stopping loop "succeeds",
	// the shard stays marked as posted, and the topic refuses publishes
	// once that loop's backlog is full.
	t.Run("hub", func(t *testing.T) {
		h := newTestHub(t, HubConfig{MaxBacklog: 4})
		tp, _ := h.topic("s", true)
		tp.shards = append(tp.shards, &shard{t: tp, el: stoppingLoop(), count: 1})
		for i := range 10 {
			if _, err := h.Publish("s", Publication{Data: []byte("x")}); err != nil {
				t.Fatalf("Publish #%d with a stopping loop: %v; want nil", i+1, err)
			}
		}
	})
}
