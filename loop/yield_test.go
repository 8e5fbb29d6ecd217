package loop

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// yieldCase serves /hello on one loop while spin keeps the loop's task
// queue busy, and checks that 20 round trips are answered (each within the
// connection's deadline) and that the loop yielded to its sockets.
func yieldCase(t *testing.T, spin func(el *eventLoop, stop <-chan struct{})) {
	ts := startServer(t, Config{Loops: 1}, func(s *Server) {
		s.GET("/hello", func(c *Ctx) { c.Text(200, "hello") })
	})
	el := (*ts.loops.Load())[0]
	stop := make(chan struct{})
	var spinning sync.WaitGroup
	spinning.Add(1)
	go func() { defer spinning.Done(); spin(el, stop) }()
	defer func() { close(stop); spinning.Wait() }()

	c := dial(t, ts.addr)
	for i := range 20 {
		resp, body := c.roundTrip("GET", get("/hello"))
		if resp.StatusCode != 200 || body != "hello" {
			t.Fatalf("round trip %d: %d %q; want 200 \"hello\"", i, resp.StatusCode, body)
		}
	}
	if n := ts.Stats().Yields; n == 0 {
		t.Errorf("Stats().Yields = 0; want the loop to have deferred drains to its sockets")
	}
}

// TestSelfRepostingTaskCannotStarveLoop: a task that posts itself again
// on its loop, forever. gnet runs a task posted from its urgent queue in
// the same pass, so without the yield connection the loop never polled
// its sockets again and /hello was never answered.
func TestSelfRepostingTaskCannotStarveLoop(t *testing.T) {
	yieldCase(t, func(el *eventLoop, stop <-chan struct{}) {
		ended := make(chan struct{})
		var task func()
		task = func() {
			select {
			case <-stop:
				close(ended)
				return
			default:
			}
			if err := el.postControl(task); err != nil {
				close(ended)
			}
		}
		if err := el.postControl(task); err != nil {
			t.Errorf("postControl: %v", err)
			return
		}
		<-ended
	})
}

// TestPostingGoroutineCannotStarveLoop: a goroutine posts as fast as the
// loop takes its tasks (retrying on ErrQueueFull), so every drain finds a
// new task waiting.
func TestPostingGoroutineCannotStarveLoop(t *testing.T) {
	yieldCase(t, func(el *eventLoop, stop <-chan struct{}) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := el.post(func() {}); err != nil && !errors.Is(err, ErrQueueFull) {
				t.Errorf("post: %v", err)
				return
			}
		}
	})
}

// TestYieldClosedRunsWaitingTasks: tasks that wait for the yield byte run
// when the yield connection closes instead (the byte will never come).
// One task on the loop arms the yield without sending the byte, queues a
// second task (its drain, from gnet's urgent queue in the same pass, sees
// the yield armed and leaves it queued) and closes the connection's peer,
// whose end the loop reads only at its next poll.
func TestYieldClosedRunsWaitingTasks(t *testing.T) {
	ts := startServer(t, Config{Loops: 1}, nil)
	el := (*ts.loops.Load())[0]
	ran := make(chan struct{})
	setup := make(chan error, 1)
	if err := el.postControl(func() {
		if el.yield == nil {
			setup <- errors.New("the loop has no yield connection")
			return
		}
		el.drainedSinceIO, el.yieldArmed = true, true
		err := el.postControl(func() { close(ran) })
		if err == nil {
			err = el.yield.peer.Close()
		}
		setup <- err
	}); err != nil {
		t.Fatalf("postControl: %v", err)
	}
	if err := <-setup; err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
	case <-time.After(testTimeout):
		t.Fatal("a task waiting for the yield byte did not run after the yield connection closed")
	}
}
