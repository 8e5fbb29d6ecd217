// Package sse implements text/event-stream responses (WHATWG HTML,
// "Server-sent events") on the streamd event loop: events with data,
// names, ids and retry, comments as heartbeats, topics with fan-out
// through a loop.Hub, and Last-Event-ID resume from a topic's history.
//
//	srv.GET("/events", func(c *loop.Ctx) {
//		sse.Open(c, sse.Options{Hub: hub}, func(s *sse.Stream) {
//			s.Send("hello")                       // data: hello
//			s.Event("time", time.Now().String())  // event: time
//			s.Join("wall")                        // everything published to "wall"
//		})
//	})
//	sse.Publish(hub, "wall", sse.Event{Data: "hi"}) // from any goroutine
//
// A stream costs its connection state, one Stream and one subscription
// per topic; there is no goroutine per stream. Heartbeats run on the
// loop's timing wheel.
//
// # Slow clients
//
// A topic's policy (loop.TopicConfig) decides what happens to a stream
// whose queued output exceeds the topic budget: PolicyClose (the default)
// closes it, and the browser reconnects with Last-Event-ID and receives
// exactly the events it missed from the topic history — or, when they are
// older than the history ring, a ResetEvent and the whole history. Direct
// sends report Written, Queued (above the high watermark: pause and use
// OnDrain) or Dropped (the stream is closed or over Options.MaxBuffered).
//
// # Concurrency
//
// Open is called from a handler, on the loop. Every Stream method but
// OnDrain is safe from any goroutine; OnDrain is loop-only and panics
// elsewhere (see Stream). Publish is safe from any goroutine. Encoding
// functions (AppendEvent, AppendComment) are pure.
package sse
