package ws

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/ws/internal/wsframe"
)

func TestRateParams(t *testing.T) {
	tests := []struct {
		rate      float64
		burst     int
		limited   bool
		interval  int64
		tolerance int64
	}{
		{rate: 0},
		{rate: -1},
		{rate: math.NaN()},
		{rate: math.Inf(1)},
		{rate: 50, burst: 10, limited: true, interval: 20e6, tolerance: 9 * 20e6},
		{rate: 50, limited: true, interval: 20e6, tolerance: 49 * 20e6}, // burst defaults to the rate
		{rate: 0.5, limited: true, interval: 2e9, tolerance: 0},         // burst at least 1
		{rate: 3, burst: 1, limited: true, interval: 333333334},         // rounded up: never faster than 3/s
		{rate: 1e12, burst: 1, limited: true, interval: 1},
		{rate: 1e-30, burst: 2, limited: true, interval: maxTolerance, tolerance: maxTolerance},
	}
	for _, tt := range tests {
		o := Options{MessageRate: tt.rate, MessageBurst: tt.burst}
		p, ok := o.rateParams()
		if ok != tt.limited || p.interval != tt.interval || p.tolerance != tt.tolerance {
			t.Errorf("rateParams(rate %v, burst %d) = %+v, %v; want {%d %d}, %v",
				tt.rate, tt.burst, p, ok, tt.interval, tt.tolerance, tt.limited)
		}
	}
}

// TestRateLimiter checks the bucket's arithmetic on a made-up clock.
func TestRateLimiter(t *testing.T) {
	p, _ := (&Options{MessageRate: 50, MessageBurst: 10}).rateParams()
	var l rateLimiter
	now := int64(time.Hour)
	for i := range 10 {
		if w := l.wait(now, p); w != 0 {
			t.Fatalf("message %d of the burst: wait %v; want 0", i, w)
		}
		l.take(now, p)
	}
	if w := l.wait(now, p); w != 20*time.Millisecond {
		t.Fatalf("after the burst: wait %v; want 20ms", w)
	}
	if w := l.wait(now+int64(20*time.Millisecond)-1, p); w != 1 {
		t.Fatalf("1ns before the next token: wait %v; want 1ns", w)
	}
	now += int64(20 * time.Millisecond)
	if w := l.wait(now, p); w != 0 {
		t.Fatalf("at the next token: wait %v; want 0", w)
	}
	l.take(now, p)
	// A long quiet spell refills the bucket to burst, not beyond.
	now += int64(time.Hour)
	n := 0
	for l.wait(now, p) == 0 {
		l.take(now, p)
		n++
	}
	if n != 10 {
		t.Fatalf("after an hour: %d tokens; want the burst, 10", n)
	}
}

// TestRateLimiterBound takes tokens greedily at random times and checks
// the bucket's promise on every window between two accepted messages:
// at most burst + rate × its length.
func TestRateLimiterBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, o := range []Options{{MessageRate: 50, MessageBurst: 10}, {MessageRate: 7}, {MessageRate: 1000, MessageBurst: 1}} {
		p, _ := o.rateParams()
		burst := int64(p.tolerance/p.interval + 1)
		var l rateLimiter
		var times []int64
		now := int64(0)
		for range 5000 {
			now += rng.Int64N(3 * p.interval)
			if w := l.wait(now, p); w == 0 {
				l.take(now, p)
				times = append(times, now)
			} else if l.wait(now+int64(w), p) != 0 {
				t.Fatalf("%+v: no token after the wait %v", o, w)
			}
		}
		for i := range times {
			for j := i; j < len(times); j++ {
				if n := int64(j - i + 1); n > burst+(times[j]-times[i])/p.interval {
					t.Fatalf("%+v: %d messages in %v", o, n, time.Duration(times[j]-times[i]))
				}
			}
		}
	}
}

// TestSocketRateCosts checks what costs a token, with a bucket that does
// not refill during the test (one token per 1000 s) and RateClose.
func TestSocketRateCosts(t *testing.T) {
	opts := func(burst int) Options {
		return Options{PingInterval: -1, MessageRate: 0.001, MessageBurst: burst, RatePolicy: RateClose}
	}
	tests := []struct {
		name string
		opts Options
		send []byte
		want []wantFrame
		code StatusCode // the close code the server sends after want
	}{
		{"data messages", opts(2), cat(fr(wsframe.OpText, true, "a"), fr(wsframe.OpBinary, true, "b"), fr(wsframe.OpText, true, "c")),
			[]wantFrame{echoT("a"), echoB("b")}, ClosePolicyViolation},
		{"a fragmented message costs one", opts(2), cat(fr(wsframe.OpText, false, "a"), fr(wsframe.OpContinuation, false, "b"), fr(wsframe.OpContinuation, true, "c"), fr(wsframe.OpText, true, "d"), fr(wsframe.OpText, true, "e")),
			[]wantFrame{echoT("abc"), echoT("d")}, ClosePolicyViolation},
		{"pings", opts(2), cat(fr(wsframe.OpPing, true, "1"), fr(wsframe.OpPing, true, "2"), fr(wsframe.OpText, true, "x")),
			[]wantFrame{pongF("1"), pongF("2")}, ClosePolicyViolation},
		{"unsolicited pongs", opts(1), cat(fr(wsframe.OpPong, true, "1"), fr(wsframe.OpText, true, "x")),
			nil, ClosePolicyViolation},
		{"close is free", opts(1), cat(fr(wsframe.OpText, true, "a"), closeFr(CloseNormal, "")),
			[]wantFrame{echoT("a")}, CloseNormal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := startEcho(t, loop.Config{}, &Upgrader{Options: tt.opts})
			rc := openWS(t, ws.HostPort, "/")
			rc.write(tt.send)
			for i, w := range tt.want {
				if f := rc.mustFrame(); f.op != w.op || string(f.payload) != w.payload || !f.fin {
					t.Fatalf("frame %d: got %v; want %v %q", i, f, w.op, w.payload)
				}
			}
			rc.expectClose(tt.code)
		})
	}
}

// TestSocketRatePongAnswerFree checks that the pong answering the
// server's keepalive ping costs no token, whenever the pings come: every
// ping is answered, and the second token is still there afterwards.
func TestSocketRatePongAnswerFree(t *testing.T) {
	up := &Upgrader{Options: Options{PingInterval: 200 * time.Millisecond, MessageRate: 0.001, MessageBurst: 2, RatePolicy: RateClose}}
	ws := startEcho(t, loop.Config{}, up)
	rc := openWS(t, ws.HostPort, "/")
	pongs := 0
	// next returns the next frame that is not a keepalive ping, answering those.
	next := func() frame {
		for {
			f := rc.mustFrame()
			if f.op != wsframe.OpPing {
				return f
			}
			rc.send(wsframe.OpPong, true, f.payload)
			pongs++
		}
	}
	rc.send(wsframe.OpText, true, []byte("a"))
	if f := next(); f.op != wsframe.OpText || string(f.payload) != "a" {
		t.Fatalf("got %v; want echo a", f)
	}
	if pongs == 0 {
		// Nothing else is on its way: the next frame is a keepalive ping.
		f := rc.mustFrame()
		if f.op != wsframe.OpPing {
			t.Fatalf("got %v; want a keepalive ping", f)
		}
		rc.send(wsframe.OpPong, true, f.payload)
		pongs++
	}
	rc.send(wsframe.OpText, true, []byte("b"))
	if f := next(); f.op != wsframe.OpText || string(f.payload) != "b" {
		t.Fatalf("after %d answered pings: got %v; want echo b (a pong was charged)", pongs, f)
	}
	rc.send(wsframe.OpPing, true, []byte("p"))
	if f := next(); f.op != wsframe.OpClose || f.closeCode() != ClosePolicyViolation {
		t.Fatalf("got %v; want close 1008", f)
	}
}

// rateRecorder counts a socket's messages with the server's clock.
type rateRecorder struct {
	mu    sync.Mutex
	at    []int64  // monoNow at each OnMessage
	texts []string // the messages, in order
	all   chan struct{}
	want  int
}

func newRateRecorder(want int) *rateRecorder {
	return &rateRecorder{all: make(chan struct{}), want: want}
}

func (r *rateRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.at)
}

func (r *rateRecorder) onMessage(s *Socket, m Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.at = append(r.at, monoNow())
	r.texts = append(r.texts, string(m.Data))
	if len(r.at) == r.want {
		close(r.all)
	}
}

// check asserts the bucket's promise for every message, counted from t0
// (before the client connected, with a full bucket): the n-th message,
// observed at time t (which is no earlier than the token it took), came
// within burst + rate × (t - t0) messages.
func (r *rateRecorder) check(t *testing.T, t0 int64, rate float64, burst int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, at := range r.at {
		if limit := float64(burst) + rate*float64(at-t0)/1e9; float64(i+1) > limit+1e-9 {
			t.Fatalf("message %d at %v after the start: over the bucket's %.2f", i+1, time.Duration(at-t0), limit)
		}
	}
}

// TestSocketRateCloseFlood floods a RateClose socket: the client gets
// 1008 and the server delivered no more than the bucket allows.
func TestSocketRateCloseFlood(t *testing.T) {
	const rate, burst = 20, 5
	rec := newRateRecorder(-1)
	ev := newConnEvents()
	up := &Upgrader{Options: Options{PingInterval: -1, MessageRate: rate, MessageBurst: burst, RatePolicy: RateClose}}
	ws := startServer(t, loop.Config{}, func(s *loop.Server) {
		s.GET("/", func(c *loop.Ctx) { up.Upgrade(c, ev.handler(Handler{OnMessage: rec.onMessage})) })
	})
	t0 := monoNow()
	rc := openWS(t, ws.HostPort, "/")
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Only this goroutine writes until done; rc.write stops at the
		// first error (the server closed).
		for i := range 100 {
			rc.send(wsframe.OpText, true, []byte(strconv.Itoa(i)))
		}
	}()
	defer func() { <-done }()
	f := rc.mustFrame()
	if f.op != wsframe.OpClose || f.closeCode() != ClosePolicyViolation {
		t.Fatalf("got %v; want close 1008", f)
	}
	<-done
	rc.send(wsframe.OpClose, true, f.payload[:2]) // answer, as a client library does
	if err := recv(t, ev.errs, "OnError"); !errors.Is(err, errRateLimit) || CloseStatus(err) != ClosePolicyViolation {
		t.Errorf("OnError(%v); want the 1008 rate limit error", err)
	}
	rec.check(t, t0, rate, burst)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.at) < burst {
		t.Errorf("%d messages delivered; want at least the burst, %d", len(rec.at), burst)
	}
	for i, s := range rec.texts {
		if s != strconv.Itoa(i) {
			t.Fatalf("message %d is %q", i, s)
		}
	}
}

// TestSocketRatePauseFlood floods a RatePause socket with 1000 messages, every 100th of them 100 KB (a frame the socket gathers
// in its spill buffer): each arrives, in order, no sooner than the bucket
// allows by the server's clock, and the connection stays open.
func TestSocketRatePauseFlood(t *testing.T) {
	// A burst of rate × 100 ms: a pause lasts at least one 100 ms tick.
	const n, rate, burst = 1000, 200, 20
	big := strings.Repeat("x", 100<<10)
	payload := func(i int) string {
		if i%100 == 99 {
			return strconv.Itoa(i) + big
		}
		return strconv.Itoa(i)
	}
	rec := newRateRecorder(n)
	ev := newConnEvents()
	up := &Upgrader{Options: Options{PingInterval: -1, MessageRate: rate, MessageBurst: burst}}
	ws := startServer(t, loop.Config{}, func(s *loop.Server) {
		s.GET("/", func(c *loop.Ctx) { up.Upgrade(c, ev.handler(Handler{OnMessage: rec.onMessage})) })
	})
	t0 := monoNow()
	rc := openWS(t, ws.HostPort, "/")
	werr := make(chan error, 1)
	go func() {
		// The writes block while the server pauses (TCP backpressure),
		// n/rate = 5 s in all; each write has testTimeout.
		for i := range n {
			if rc.send(wsframe.OpText, true, []byte(payload(i))); rc.werr != nil {
				werr <- fmt.Errorf("write %d: %w", i, rc.werr)
				return
			}
		}
		werr <- nil
	}()
	select {
	case <-rec.all:
	case err := <-ev.errs:
		t.Fatalf("OnError(%v)", err)
	case code := <-ev.closed:
		t.Fatalf("socket closed with %v", code)
	case <-time.After(4 * testTimeout):
		t.Fatalf("timed out with %d of %d messages", rec.count(), n)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	rec.check(t, t0, rate, burst)
	rec.mu.Lock()
	for i, s := range rec.texts {
		if s != payload(i) {
			rec.mu.Unlock()
			t.Fatalf("message %d: %.20q (%d bytes); want %.20q (%d bytes)", i, s, len(s), payload(i), len(payload(i)))
		}
	}
	rec.mu.Unlock()
	rc.write(closeFr(CloseNormal, ""))
	if rc.werr != nil {
		t.Fatalf("write close: %v", rc.werr)
	}
	rc.expectClose(CloseNormal)
}

// TestSocketRatePauseOrder sends data, pings and a fragmented message in
// one write to a RatePause echo socket: the answers come in order, each
// once its token is due, and a 200 KB frame waiting for its token is not
// lost or reordered.
func TestSocketRatePauseOrder(t *testing.T) {
	const rate, burst = 20, 2
	var mu sync.Mutex
	var at []int64 // monoNow at each answer the server writes
	stamp := func() {
		mu.Lock()
		at = append(at, monoNow())
		mu.Unlock()
	}
	up := &Upgrader{Options: Options{PingInterval: -1, MessageRate: rate, MessageBurst: burst}}
	ws := startServer(t, loop.Config{}, func(s *loop.Server) {
		s.GET("/", func(c *loop.Ctx) {
			up.Upgrade(c, Handler{OnMessage: func(s *Socket, m Message) {
				stamp()
				echoHandler.OnMessage(s, m)
			}})
		})
	})
	big := strings.Repeat("b", 200<<10)
	t0 := monoNow()
	rc := openWS(t, ws.HostPort, "/")
	rc.write(cat(fr(wsframe.OpText, true, "1"), fr(wsframe.OpPing, true, "2"), fr(wsframe.OpBinary, true, "3"),
		fr(wsframe.OpText, false, "4"), fr(wsframe.OpPing, true, "5"), fr(wsframe.OpContinuation, true, "4"),
		fr(wsframe.OpBinary, true, big), fr(wsframe.OpText, true, "7")))
	want := []wantFrame{echoT("1"), pongF("2"), echoB("3"), pongF("5"), echoT("44"), echoB(big), echoT("7")}
	for i, w := range want {
		if f := rc.mustFrame(); f.op != w.op || string(f.payload) != w.payload || !f.fin {
			t.Fatalf("frame %d: got %v; want %v %.20q", i, f, w.op, w.payload)
		}
	}
	// Every data message and ping took a token: 7 in all. The messages
	// were stamped when delivered, after their token.
	mu.Lock()
	defer mu.Unlock()
	tokens := []int{1, 3, 5, 6, 7} // tokens spent when message k was delivered: "1", "3", "44" (after ping 5), big, "7"
	for i, ts := range at {
		if limit := float64(burst) + rate*float64(ts-t0)/1e9; float64(tokens[i]) > limit+1e-9 {
			t.Errorf("message %d, token %d, at %v: over the bucket's %.2f", i, tokens[i], time.Duration(ts-t0), limit)
		}
	}
	rc.write(closeFr(CloseNormal, ""))
	rc.expectClose(CloseNormal)
}
