package loop

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/panjf2000/gnet/v2"
)

func TestRouter(t *testing.T) {
	r := newRouter()
	var called string
	h := func(name string) HandlerFunc { return func(*Ctx) { called = name } }
	r.add("GET", "/", h("root"))
	r.add("GET", "/hello", h("get hello"))
	r.add("POST", "/hello", h("post hello"))
	r.add("GET", "/users/:id", h("get user"))
	r.add("DELETE", "/users/:id", h("delete user"))
	r.add("GET", "/users/me", h("get me"))
	r.add("GET", "/users/:id/posts/:post", h("get post"))
	r.add("HEAD", "/head-only", h("head only"))
	r.add("PUT", "/files/:name", h("put file"))

	tests := []struct {
		method, path string
		want         string // handler name, "" for none
		found        bool
		params       map[string]string
		allow        string
	}{
		{"GET", "/", "root", true, nil, "GET"},
		{"GET", "/hello", "get hello", true, nil, "GET, POST"},
		{"POST", "/hello", "post hello", true, nil, "GET, POST"},
		{"HEAD", "/hello", "get hello", true, nil, "GET, POST"},
		{"PUT", "/hello", "", true, nil, "GET, POST"},
		{"GET", "/hello/", "", false, nil, ""},
		{"GET", "/hellox", "", false, nil, ""},
		{"GET", "/users/42", "get user", true, map[string]string{"id": "42"}, "DELETE, GET"},
		{"HEAD", "/users/42", "get user", true, map[string]string{"id": "42"}, "DELETE, GET"},
		{"DELETE", "/users/42", "delete user", true, map[string]string{"id": "42"}, "DELETE, GET"},
		{"GET", "/users/me", "get me", true, nil, "DELETE, GET"},
		// The exact route wins for GET, but DELETE /users/me still reaches
		// the pattern: Allow lists it, so it must not be a 405.
		{"DELETE", "/users/me", "delete user", true, map[string]string{"id": "me"}, "DELETE, GET"},
		{"POST", "/users/42", "", true, nil, "DELETE, GET"},
		{"GET", "/users/", "", false, nil, ""},
		{"GET", "/users", "", false, nil, ""},
		{"GET", "/users/42/posts/7", "get post", true, map[string]string{"id": "42", "post": "7"}, "GET"},
		{"GET", "/users/42/posts/7/", "", false, nil, ""},
		{"GET", "/users/42/posts", "", false, nil, ""},
		{"GET", "/users//posts/7", "", false, nil, ""},
		{"HEAD", "/head-only", "head only", true, nil, "HEAD"},
		{"GET", "/head-only", "", true, nil, "HEAD"},
		{"HEAD", "/files/a", "", true, nil, "PUT"},
		{"GET", "", "", false, nil, ""},
		{"GET", "*", "", false, nil, ""},
	}
	for _, tt := range tests {
		var params [maxParams]param
		n := 0
		called = ""
		got, found := r.lookup([]byte(tt.method), []byte(tt.path), &params, &n)
		if got != nil {
			got(nil)
		}
		if called != tt.want || found != tt.found {
			t.Errorf("lookup(%q, %q) = %q, %v; want %q, %v", tt.method, tt.path, called, found, tt.want, tt.found)
			continue
		}
		if got != nil {
			gotParams := map[string]string{}
			for _, p := range params[:n] {
				gotParams[p.name] = tt.path[p.start:p.end]
			}
			if len(gotParams) != len(tt.params) {
				t.Errorf("lookup(%q, %q) params = %v; want %v", tt.method, tt.path, gotParams, tt.params)
			}
			for k, v := range tt.params {
				if gotParams[k] != v {
					t.Errorf("lookup(%q, %q) param %s = %q; want %q", tt.method, tt.path, k, gotParams[k], v)
				}
			}
		}
		if tt.found {
			allow := r.allowed([]byte(tt.path))
			if want := tt.allow; !allowHasAll(allow, want) {
				t.Errorf("allowed(%q) = %q; want %q", tt.path, allow, want)
			}
		}
	}
}

// allowHasAll reports whether allow lists exactly want's methods, plus
// HEAD when GET is there (HEAD falls back to GET).
func allowHasAll(allow, want string) bool {
	got := splitList(allow)
	exp := splitList(want)
	if slices.Contains(exp, "GET") && !slices.Contains(exp, "HEAD") {
		exp = append(exp, "HEAD")
	}
	slices.Sort(got)
	slices.Sort(exp)
	return slices.Equal(got, exp)
}

func splitList(s string) []string {
	var out []string
	for _, f := range slices.Collect(func(yield func(string) bool) {
		start := 0
		for i := 0; i <= len(s); i++ {
			if i == len(s) || s[i] == ',' {
				if !yield(s[start:i]) {
					return
				}
				start = i + 1
			}
		}
	}) {
		for len(f) > 0 && f[0] == ' ' {
			f = f[1:]
		}
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

func TestRouterPanics(t *testing.T) {
	h := func(*Ctx) {}
	tests := []struct {
		name  string
		setup func(r *router)
	}{
		{"duplicate exact", func(r *router) { r.add("GET", "/a", h); r.add("GET", "/a", h) }},
		{"duplicate pattern", func(r *router) { r.add("GET", "/a/:x", h); r.add("GET", "/a/:y", h) }},
		{"empty param", func(r *router) { r.add("GET", "/a/:", h) }},
		{"no slash", func(r *router) { r.add("GET", "a", h) }},
		{"empty method", func(r *router) { r.add("", "/a", h) }},
		{"nil handler", func(r *router) { r.add("GET", "/a", nil) }},
		{"too many params", func(r *router) { r.add("GET", "/:a/:b/:c/:d/:e/:f/:g/:h/:i", h) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic")
				}
			}()
			tt.setup(newRouter())
		})
	}
	// Same pattern, different methods, and different literal segments are fine.
	r := newRouter()
	r.add("GET", "/a/:x", h)
	r.add("POST", "/a/:x", h)
	r.add("GET", "/b/:x", h)
	r.add("GET", "/a/:x/c", h)
}

func TestServerHandleAfterServe(t *testing.T) {
	ts := startServer(t, Config{Loops: 1}, nil)
	defer func() {
		if recover() == nil {
			t.Errorf("Handle after Serve did not panic")
		}
	}()
	ts.GET("/late", func(*Ctx) {})
}

func newTestConn() *Conn { return &Conn{tslot: -1} }

func TestWheelScheduleAdvance(t *testing.T) {
	var w wheel
	w.now = 5
	var fired []*Conn
	fire := func(c *Conn) { fired = append(fired, c) }

	a, b, c, d := newTestConn(), newTestConn(), newTestConn(), newTestConn()
	w.schedule(a, 7)
	w.schedule(b, 7)
	w.schedule(c, 5+wheelSlots+3)   // same slot as 8, one round later
	w.schedule(d, 5+3*wheelSlots+2) // same slot as 7, three rounds later

	w.advance(6, fire)
	if len(fired) != 0 {
		t.Fatalf("fired %d at tick 6", len(fired))
	}
	w.advance(7, fire)
	if len(fired) != 2 || !slices.Contains(fired, a) || !slices.Contains(fired, b) {
		t.Fatalf("tick 7 fired %v; want a and b", fired)
	}
	if a.tslot != -1 || b.tslot != -1 {
		t.Errorf("fired entries still scheduled")
	}
	fired = nil
	w.advance(5+wheelSlots+2, fire)
	if len(fired) != 0 {
		t.Fatalf("fired %d before c's tick (rounds ignored?)", len(fired))
	}
	w.advance(5+wheelSlots+3, fire)
	if len(fired) != 1 || fired[0] != c {
		t.Fatalf("fired %v; want c", fired)
	}
	fired = nil
	w.advance(5+3*wheelSlots+1, fire)
	if len(fired) != 0 {
		t.Fatalf("d fired early")
	}
	w.advance(5+3*wheelSlots+10, fire)
	if len(fired) != 1 || fired[0] != d {
		t.Fatalf("fired %v; want d", fired)
	}
	for i, s := range w.slots {
		if s != nil {
			t.Errorf("slot %d not empty", i)
		}
	}
}

func TestWheelScheduleClampsAndMoves(t *testing.T) {
	var w wheel
	w.now = 100
	var fired []*Conn
	fire := func(c *Conn) { fired = append(fired, c) }
	a := newTestConn()
	w.schedule(a, 50) // in the past: next tick
	if a.tat != 101 {
		t.Errorf("tat = %d; want 101", a.tat)
	}
	w.schedule(a, 110) // moved
	w.advance(105, fire)
	if len(fired) != 0 {
		t.Fatalf("moved entry fired at its old tick")
	}
	w.advance(110, fire)
	if len(fired) != 1 {
		t.Fatalf("moved entry did not fire")
	}

	b := newTestConn()
	w.schedule(b, 120)
	w.cancel(b)
	w.cancel(b) // twice is fine
	w.advance(130, fire)
	if len(fired) != 1 {
		t.Errorf("cancelled entry fired")
	}
	closed := newTestConn()
	w.schedule(closed, 131)
	closed.closed = true
	w.advance(131, fire)
	if len(fired) != 1 {
		t.Errorf("closed connection fired")
	}
}

func TestWheelFireChangesSameSlot(t *testing.T) {
	// Several entries in one slot; the first to fire reschedules one,
	// cancels one and re-arms itself in the same slot a round later.
	var w wheel
	a, b, c, d := newTestConn(), newTestConn(), newTestConn(), newTestConn()
	for _, x := range []*Conn{a, b, c, d} {
		w.schedule(x, 10)
	}
	var fired []*Conn
	first := true
	fire := func(x *Conn) {
		fired = append(fired, x)
		if first {
			first = false
			others := []*Conn{}
			for _, o := range []*Conn{a, b, c, d} {
				if o != x {
					others = append(others, o)
				}
			}
			w.schedule(others[0], 20)            // rescheduled
			w.cancel(others[1])                  // cancelled
			w.schedule(x, 10+wheelSlots)         // same slot, next round
			w.schedule(others[2], w.now)         // due now: clamped to next tick
			fired = append(fired, others[:3]...) // remember who is who
		}
	}
	w.advance(10, fire)
	if len(fired) != 4 {
		t.Fatalf("tick 10: %d entries fired; want only the first (others changed by it)", len(fired)-3)
	}
	x, resched, cancelled, clamped := fired[0], fired[1], fired[2], fired[3]
	fired = nil
	w.advance(11, fire)
	if len(fired) != 1 || fired[0] != clamped {
		t.Fatalf("tick 11 fired %d entries; want the clamped one", len(fired))
	}
	fired = nil
	w.advance(20, fire)
	if len(fired) != 1 || fired[0] != resched {
		t.Fatalf("tick 20 fired %d entries; want the rescheduled one", len(fired))
	}
	fired = nil
	w.advance(10+wheelSlots, fire)
	if len(fired) != 1 || fired[0] != x {
		t.Fatalf("next round fired %d entries; want the first one", len(fired))
	}
	if cancelled.tslot != -1 {
		t.Errorf("cancelled entry still scheduled (slot %d)", cancelled.tslot)
	}
	w.schedule(cancelled, w.now+1) // a cancelled entry can be scheduled again
	fired = nil
	w.advance(w.now+1, fire)
	if len(fired) != 1 || fired[0] != cancelled {
		t.Errorf("re-armed entry did not fire")
	}
}

// countingEngine is a gnet.EventLoop whose Execute only counts wake-ups.
type countingEngine struct {
	gnet.EventLoop
	wakes *int
}

func (e countingEngine) Execute(context.Context, gnet.Runnable) error {
	*e.wakes++
	return nil
}

func TestTaskQueue(t *testing.T) {
	wakes := 0
	el := &eventLoop{srv: New(Config{Logger: testLogger()}), gl: countingEngine{wakes: &wakes}}
	el.queue.limit = 3
	q := &el.queue
	var ran []int
	for i := range 3 {
		if err := el.post(func() { ran = append(ran, i) }); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
		if wakes != 1 {
			t.Errorf("post %d: %d wake-ups; want 1 per batch", i, wakes)
		}
	}
	if err := el.post(func() {}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("post on a full queue: %v; want ErrQueueFull", err)
	}
	if err := el.postControl(func() { ran = append(ran, 3) }); err != nil {
		t.Fatalf("postControl on a full queue: %v; want nil (no limit)", err)
	}
	tasks := q.take()
	for _, f := range tasks {
		f()
	}
	q.recycle(tasks)
	if !slices.Equal(ran, []int{0, 1, 2, 3}) {
		t.Errorf("ran %v; want [0 1 2 3]", ran)
	}
	if err := el.post(func() {}); err != nil || wakes != 2 {
		t.Errorf("post after take = %v with %d wake-ups; want nil, 2", err, wakes)
	}
	if n := len(q.take()); n != 1 {
		t.Errorf("take = %d tasks; want 1", n)
	}
	if n := len(q.take()); n != 0 {
		t.Errorf("take on empty = %d tasks", n)
	}
	q.stop()
	if err := el.post(func() {}); !errors.Is(err, ErrServerClosed) {
		t.Errorf("post after stop: %v; want ErrServerClosed", err)
	}
}

func TestOriginPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://host/a/b", "/a/b"},
		{"HTTPS://host:8080/a", "/a"},
		{"http://host", "/"},
		{"http://host:80", "/"},
		{"*", "*"},
		{"host:443", "host:443"},
		{"://x/y", "://x/y"},
		{"ht tp://x/y", "ht tp://x/y"},
	}
	for _, tt := range tests {
		if got := string(originPath([]byte(tt.in))); got != tt.want {
			t.Errorf("originPath(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
