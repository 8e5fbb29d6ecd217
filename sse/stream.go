package sse

import (
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamd/streamd/internal/reason"
	"github.com/streamd/streamd/loop"
)

// DefaultHeartbeat is the interval of the keep-alive comment sent on
// every stream, so proxies do not cut idle streams.
const DefaultHeartbeat = 15 * time.Second

// ResetEvent is the event type sent when a client resumes with a
// Last-Event-ID that is not in a topic's history: older than the history
// ring, from before a server restart (the hub's ids carry an epoch, see
// loop.Publication), or unknown. Its data is the topic name. The topic's whole
// history follows it, then the live events, with no gap between them: the
// client drops the state it built from the topic and rebuilds it from the
// events after the reset. The reset itself carries no id, so a client
// that reconnects before any event arrives resumes with its old id again
// and gets another reset, never a gap.
const ResetEvent = "reset"

// Options configure a stream.
type Options struct {
	// Hub is where Join finds topics. Nil: Join returns ErrNoHub.
	Hub *loop.Hub
	// Heartbeat is the interval of ":\n\n" comments; 0 means
	// DefaultHeartbeat and a negative value disables them.
	Heartbeat time.Duration
	// Retry, if positive, is sent first as the client's reconnection delay.
	Retry time.Duration
	// AllowOrigins lists origins allowed to read the stream cross-origin
	// (CORS); "*" allows any. Empty: same-origin only.
	AllowOrigins []string
	// AllowCredentials adds Access-Control-Allow-Credentials for
	// EventSource with withCredentials (only with listed origins).
	AllowCredentials bool
	// MaxBuffered caps the stream's queued output; sends beyond it are
	// dropped (reported as Dropped). Default: 4 × the server's high
	// watermark. Heartbeats are never dropped.
	MaxBuffered int
}

// codec is the hub encoding of SSE: one frame, shared by every
// subscriber of a topic.
var codec = loop.RegisterCodec(func(dst []byte, m *loop.Publication) []byte {
	id, event := m.ID, m.Event
	if !validID(id) {
		id = "" // never emit a malformed frame; Publish refuses these
	}
	if !validEventName(event) {
		event = ""
	}
	return appendFrame(dst, id, event, "", m.Data, 0)
})

func validID(id string) bool {
	for i := 0; i < len(id); i++ {
		if c := id[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

func validEventName(e string) bool {
	for i := 0; i < len(e); i++ {
		if c := e[i]; c == '\r' || c == '\n' {
			return false
		}
	}
	return true
}

// Publish validates ev and publishes it to topic on hub (ev.Retry is not
// carried by topics). It returns the event's id: ev.ID, or the one the hub
// assigned when ev.ID is empty ("<epoch>-<seq>", see loop.Publication). Safe
// from any goroutine.
func Publish(hub *loop.Hub, topic string, ev Event) (string, error) {
	if !validID(ev.ID) {
		return "", ErrInvalidID
	}
	if !validEventName(ev.Event) {
		return "", ErrInvalidEventName
	}
	return hub.Publish(topic, loop.Publication{ID: ev.ID, Event: ev.Event, Data: []byte(ev.Data)})
}

// Stream is one open text/event-stream response.
//
// # Concurrency
//
// Each method's doc says where it may be called. All but OnDrain are
// safe from any goroutine: on the stream's loop (in the Open callback, a
// function given to OnDrain or OnClose) writes go straight to the
// connection; from other goroutines the encoded frame is handed to the
// loop through the connection's loop.Sender, in call order, and the
// reported outcome is based on the queued output as last seen by the
// loop. OnDrain belongs to the loop: called from any other goroutine it
// panics with its name rather than race.
type Stream struct {
	conn        *loop.Conn
	hub         *loop.Hub
	lastEventID string
	maxBuffered int32
	heartbeatMS int32 // heartbeat interval in milliseconds, 0 = none

	// loop-only
	subs    []*loop.Subscription
	onDrain loop.Drain
	closed  bool
	inOpen  bool  // the Open callback runs: joins resume together after it
	resumed bool  // Last-Event-ID has been applied
	ending  uint8 // endShutdown or endSlow: who is ending the stream, if not its application

	// any goroutine
	gone     atomic.Bool
	closing  atomic.Bool // Close was called: later sends are dropped
	snd      loop.Sender // admission of sends from other goroutines
	mu       sync.Mutex  // guards watchers
	watchers *watchers   // allocated by the first OnClose or Done
}

func (s *Stream) heartbeat() time.Duration {
	return time.Duration(s.heartbeatMS) * time.Millisecond
}

func clamp32(n int) int32 { return int32(min(n, math.MaxInt32)) }

// watchers are what waits for a stream to end, and why it ended; most
// open streams have none, so they live outside the Stream.
type watchers struct {
	done    chan struct{}
	onClose []func()
	err     error // what Err reports once the stream is gone
}

// Values of Stream.ending.
const (
	endShutdown uint8 = 1 + iota // OnShutdown ended the stream
	endSlow                      // the hub closed it under PolicyClose
)

// watch returns the stream's watchers, creating them. Under s.mu.
func (s *Stream) watch() *watchers {
	if s.watchers == nil {
		s.watchers = &watchers{}
	}
	return s.watchers
}

// Open answers the request with an event stream, calls fn with the
// stream on the loop, and keeps the connection open until the client
// leaves, the stream is closed, or the server shuts down. Call it from a
// handler.
func Open(c *loop.Ctx, opts Options, fn func(*Stream)) *Stream {
	if opts.Heartbeat == 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	s := &Stream{hub: opts.Hub, lastEventID: c.Header("Last-Event-ID")}
	if opts.Heartbeat > 0 {
		s.heartbeatMS = int32(min(max(opts.Heartbeat.Milliseconds(), 1), math.MaxInt32))
	}
	if s.lastEventID == "" {
		// Clients without the header (or a first page load) may pass it in
		// the query, as some EventSource polyfills do.
		s.lastEventID, _ = c.Query("lastEventId")
	}
	if !validID(s.lastEventID) {
		s.lastEventID = ""
	}
	s.conn = c.TakeOver(mode{s})
	c.WriteStreamHead(200, "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n"+corsHeaders(&opts, c.Header("Origin")))
	s.maxBuffered = int32(min(opts.MaxBuffered, math.MaxInt32))
	if s.maxBuffered <= 0 {
		s.maxBuffered = int32(min(4*s.conn.HighWatermark(), math.MaxInt32))
	}
	if c.Method() == "HEAD" {
		// No stream follows and the mode's OnClose will not run: end the
		// Stream here so Done and OnClose do not wait forever.
		s.closed = true
		s.conn.EndMode(c.KeepAlive())
		s.finish(ErrClosed)
		return s
	}
	if opts.Retry > 0 {
		s.conn.Write(appendFrame(nil, "", "", "", nil, opts.Retry))
	}
	if opts.Heartbeat > 0 {
		s.conn.SetTimer(opts.Heartbeat)
	}
	if fn != nil {
		s.inOpen = true
		fn(s)
		s.inOpen = false
	}
	if s.lastEventID != "" && !s.resumed && len(s.subs) > 0 && !s.closed {
		// One Last-Event-ID for every topic joined in fn: what the client
		// missed of all of them, in the order of their ids.
		s.resumed = true
		missed, reset := s.hub.Resume(s.subs, s.lastEventID)
		topics := make([]string, len(s.subs))
		for i, sub := range s.subs {
			topics[i] = sub.Topic()
		}
		s.replay(missed, reset, strings.Join(topics, ","))
	}
	return s
}

// replay writes what a resuming client missed: after a reset (its id is
// no longer known) the reset event naming the topics, then the messages.
func (s *Stream) replay(missed []*loop.Publication, reset bool, topics string) {
	if reset {
		s.writeOnLoop(appendFrame(nil, "", ResetEvent, topics, nil, 0), true)
	}
	for _, m := range missed {
		s.writeOnLoop(m.Frame(codec), true)
	}
}

func corsHeaders(opts *Options, origin string) string {
	if origin == "" || len(opts.AllowOrigins) == 0 {
		return ""
	}
	allowed := slices.Contains(opts.AllowOrigins, origin)
	if !allowed && slices.Contains(opts.AllowOrigins, "*") {
		if opts.AllowCredentials {
			allowed = true // credentials need the echoed origin, not "*"
		} else {
			return "Access-Control-Allow-Origin: *\r\n"
		}
	}
	if !allowed || !validID(origin) {
		return ""
	}
	h := "Access-Control-Allow-Origin: " + origin + "\r\nVary: Origin\r\n"
	if opts.AllowCredentials {
		h += "Access-Control-Allow-Credentials: true\r\n"
	}
	return h
}

// LastEventID is the id the client resumed from ("" on a fresh stream).
// Safe from any goroutine.
func (s *Stream) LastEventID() string { return s.lastEventID }

// Conn returns the underlying connection. Safe from any goroutine; the
// connection's own methods say where they may be called.
func (s *Stream) Conn() *loop.Conn { return s.conn }

// Send sends data as a "message" event (Ruby's stream << data). Safe
// from any goroutine.
func (s *Stream) Send(data string) loop.WriteResult {
	return s.write(appendFrame(nil, "", "", data, nil, 0), false)
}

// Event sends data as an event of type name. Safe from any goroutine.
func (s *Stream) Event(name, data string) (loop.WriteResult, error) {
	return s.SendEvent(Event{Event: name, Data: data})
}

// ID sets the client's last event id without dispatching an event. Safe
// from any goroutine.
func (s *Stream) ID(id string) (loop.WriteResult, error) {
	if id == "" {
		return loop.Written, nil
	}
	return s.SendEvent(Event{ID: id})
}

// Retry sets the client's reconnection delay. Safe from any goroutine.
func (s *Stream) Retry(d time.Duration) loop.WriteResult {
	if d <= 0 {
		return loop.Written
	}
	return s.write(appendFrame(nil, "", "", "", nil, d), false)
}

// Comment sends a comment line, which clients ignore. Safe from any
// goroutine.
func (s *Stream) Comment(text string) loop.WriteResult {
	return s.write(AppendComment(nil, text), false)
}

// SendEvent sends ev; an invalid id or event name is refused with an
// error and nothing is sent. Safe from any goroutine.
func (s *Stream) SendEvent(ev Event) (loop.WriteResult, error) {
	frame, err := AppendEvent(nil, &ev)
	if err != nil {
		return loop.Dropped, err
	}
	return s.write(frame, false), nil
}

// write sends an encoded frame on the loop or hands it to the loop.
// Control frames (heartbeats) ignore MaxBuffered.
//
// From another goroutine the frame goes through the connection's
// loop.Sender: it is admitted (Written or Queued) only if the stream's
// queued output plus the frames admitted and not yet written stay within
// MaxBuffered, and an admitted frame is written, in order, unless the
// connection closes first.
func (s *Stream) write(frame []byte, control bool) loop.WriteResult {
	if s.gone.Load() || s.closing.Load() {
		return loop.Dropped
	}
	if s.conn.OnLoop() {
		return s.writeOnLoop(frame, control)
	}
	return s.snd.Send(s.conn, len(frame), int(s.maxBuffered), control, func(c *loop.Conn) {
		if !s.closed {
			c.Write(frame)
		}
	})
}

func (s *Stream) writeOnLoop(frame []byte, control bool) loop.WriteResult {
	if s.closed || (!control && s.closing.Load()) {
		return loop.Dropped
	}
	if !control && s.conn.Buffered()+s.snd.Buffered()+len(frame) > int(s.maxBuffered) {
		return loop.Dropped
	}
	return s.conn.Write(frame)
}

// Join subscribes the stream to topic on its hub. On the first Join of a
// stream opened with a Last-Event-ID, the events the client missed are
// sent first; when that id is not in the topic's history, a ResetEvent
// and then the whole history are sent instead. Live events follow without
// a gap. From another goroutine the join happens asynchronously and
// errors are not reported. Safe from any goroutine.
func (s *Stream) Join(topic string) error {
	if s.hub == nil {
		return ErrNoHub
	}
	if !s.conn.OnLoop() {
		return s.conn.Post(func(*loop.Conn) { _ = s.join(topic) })
	}
	return s.join(topic)
}

func (s *Stream) join(topic string) error {
	if s.closed || s.closing.Load() {
		return ErrClosed
	}
	for _, sub := range s.subs {
		if sub.Topic() == topic {
			return nil
		}
	}
	// Joins in the Open callback resume together when it returns; the
	// first join after it resumes on its own.
	var resume loop.Resume
	if s.lastEventID != "" && !s.resumed && !s.inOpen {
		resume = loop.Resume{LastID: s.lastEventID, Enabled: true}
		s.resumed = true
	}
	sub, missed, reset, err := s.hub.Subscribe(s.conn, topic, subscriber{s}, resume)
	if err != nil {
		return err
	}
	s.subs = append(s.subs, sub)
	s.replay(missed, reset, topic) // after a reset, missed is the whole history
	return nil
}

// Leave unsubscribes the stream from topic. Safe from any goroutine: from
// another goroutine it happens asynchronously, after the sends made before,
// and the error is that of handing it to the loop (loop.ErrQueueFull:
// nothing was done; loop.ErrServerClosed). On the loop it returns nil.
func (s *Stream) Leave(topic string) error {
	if !s.conn.OnLoop() {
		return s.conn.Post(func(*loop.Conn) { _ = s.Leave(topic) })
	}
	for i, sub := range s.subs {
		if sub.Topic() == topic {
			sub.Unsubscribe()
			s.subs = slices.Delete(s.subs, i, i+1)
			return nil
		}
	}
	return nil
}

// OnDrain runs fn on the loop once the stream's queued output has fallen
// to the low watermark (after a send reported Queued). On the loop: call
// it from the Open callback or another callback of this stream; it panics
// elsewhere.
func (s *Stream) OnDrain(fn func()) {
	s.conn.MustOnLoop("sse: Stream.OnDrain")
	if !s.closed {
		s.onDrain.Set(s.conn, fn)
	}
}

// OnClose registers fn to run (on the loop) when the stream ends. If it
// has already ended, fn runs at once, on the caller's goroutine. Safe from
// any goroutine.
func (s *Stream) OnClose(fn func()) {
	s.mu.Lock()
	if s.gone.Load() {
		s.mu.Unlock()
		fn()
		return
	}
	w := s.watch()
	w.onClose = append(w.onClose, fn)
	s.mu.Unlock()
}

// Done returns a channel closed when the stream ends, for producer
// goroutines; Err then tells why. Safe from any goroutine.
func (s *Stream) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.watch()
	if w.done == nil {
		w.done = make(chan struct{})
		if s.gone.Load() {
			close(w.done)
		}
	}
	return w.done
}

// Close ends the stream after the queued events are sent; the client
// will reconnect unless told otherwise (e.g. by an HTTP 204 on reconnect).
// Sends after Close report Dropped. Safe from any goroutine: from another
// goroutine the stream ends after the frames sent before Close.
func (s *Stream) Close() {
	if s.closing.Swap(true) {
		return
	}
	if s.conn.OnLoop() && !s.snd.Pending() {
		s.closeOnLoop()
		return
	}
	// After the frames admitted before it, through the same path.
	s.snd.Send(s.conn, 0, 0, true, func(*loop.Conn) { s.closeOnLoop() })
}

// closeOnLoop leaves the topics, so no further events are queued behind
// the ones being flushed, and closes the connection once they are sent.
func (s *Stream) closeOnLoop() {
	for _, sub := range s.subs {
		sub.Unsubscribe()
	}
	s.subs = nil
	s.conn.CloseAfterFlush()
}

// subscriber adapts a Stream to loop.Subscriber.
type subscriber struct{ s *Stream }

func (subscriber) Codec() loop.CodecID { return codec }

// Replayed writes what the stream missed when it comes from the broker's
// history after Join or Open returned (see loop.Replayer).
func (sb subscriber) Replayed(missed []*loop.Publication, reset bool) {
	s := sb.s
	if s.closed {
		return
	}
	topics := make([]string, len(s.subs))
	for i, sub := range s.subs {
		topics[i] = sub.Topic()
	}
	s.replay(missed, reset, strings.Join(topics, ","))
}

// Overflow closes a slow stream: the browser reconnects with
// Last-Event-ID and gets what it missed from the topic history.
func (sb subscriber) Overflow(c *loop.Conn) {
	sb.s.ending = endSlow
	c.Close()
}

// mode adapts a Stream to loop.Mode.
type mode struct{ s *Stream }

// OnData discards input: a client has nothing to say on an event stream.
func (mode) OnData(_ *loop.Conn, in []byte) (int, error) { return len(in), nil }

func (m mode) OnTimer(c *loop.Conn) {
	s := m.s
	if s.closed {
		return
	}
	s.writeOnLoop(heartbeat, true)
	c.SetTimer(s.heartbeat())
}

var heartbeat = []byte(":\n\n")

func (m mode) OnDrain(*loop.Conn) {
	s := m.s
	for _, sub := range s.subs {
		sub.Drained()
	}
	s.onDrain.Run()
}

// OnShutdown ends the stream so the client reconnects to another server.
// Frames admitted from goroutines before the shutdown go out first.
func (m mode) OnShutdown(c *loop.Conn) {
	m.s.ending = endShutdown
	if m.s.snd.Pending() {
		m.s.snd.Send(c, 0, 0, true, func(c *loop.Conn) { c.CloseAfterFlush() })
		return
	}
	c.CloseAfterFlush()
}

func (m mode) OnClose(_ *loop.Conn, err error) {
	s := m.s
	s.closed = true
	for _, sub := range s.subs {
		sub.Unsubscribe()
	}
	s.subs = nil
	s.finish(s.endReason(err))
}

// endReason turns the loop's close reason into what Err reports. The
// stream's own ending comes first (the hub closing a slow stream, the
// shutdown asking it to end, the application's Close): once a stream has
// been closed on the server's side, the peer's EOF that ends the
// connection afterwards is not the reason. A reason of the loop's (a
// write timeout cutting the flush of the last events, the shutdown
// deadline) always is.
func (s *Stream) endReason(err error) error {
	switch {
	case s.ending == endSlow:
		return ErrSlowConsumer
	case reason.FromLoop(err):
		return err
	case s.ending == endShutdown:
		return loop.ErrShutdown
	case s.closing.Load() || err == nil:
		return ErrClosed
	}
	return err // the peer's
}

// Err returns nil while the stream is open and, once it has ended (Done
// is closed, the OnClose functions run), why:
//
//   - ErrClosed: the application closed it (Close, or its handler closed
//     the connection), and the queued events were flushed or the client
//     left meanwhile; a HEAD request's stream ends at once with it;
//   - ErrSlowConsumer: a topic's PolicyClose closed it;
//   - a close reason of the loop: loop.ErrWriteTimeout (the client stopped
//     reading), loop.ErrShutdown (the server shut down; the client
//     reconnects to another), loop.ErrInputOverflow and the like;
//   - the peer's error when the client went away: io.EOF or a reset
//     (syscall.ECONNRESET), wrapped in an *os.SyscallError; match it with
//     errors.Is.
//
// Safe from any goroutine.
func (s *Stream) Err() error {
	if !s.gone.Load() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watchers.err
}

// finish marks the stream gone with reason err (never nil), records it
// for Err, closes Done and runs the OnClose functions, once.
func (s *Stream) finish(err error) {
	s.mu.Lock()
	if s.gone.Load() {
		s.mu.Unlock()
		return
	}
	w := s.watch()
	w.err = err
	s.gone.Store(true)
	fns := w.onClose
	w.onClose = nil
	if w.done != nil {
		close(w.done)
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}
