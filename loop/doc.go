// Package loop is streamd's reactor: an HTTP/1.1 server on gnet event
// loops (one per core) that keeps every connection in a small state
// machine and hands it to a protocol Mode (an SSE stream, a WebSocket, a
// chunked response) without a goroutine per connection.
//
// # Request flow
//
// On each read event the loop parses every complete request in the
// connection's input with httpcodec (in place: no copy of the input),
// routes it by method and path, runs the handler, and appends all the
// responses to one per-loop buffer that is written with a single system
// call at the end of the event — pipelined requests are answered in
// order with one write. A handler that needs slow work calls Ctx.Defer
// and answers from a goroutine; requests pipelined behind it wait, so the
// order holds. A handler that streams calls Ctx.TakeOver with a Mode,
// which then owns the connection's bytes until it ends the stream.
//
// # Timers, limits and backpressure
//
// Each loop has a hashed timing wheel (TickInterval resolution) for the
// header-read and idle deadlines and for the modes' heartbeats and pings:
// one entry per connection, no time.Timer per connection. Output queued
// above Config.HighWatermark makes writes report Queued; producers pause
// and get Mode.OnDrain once it falls to Config.LowWatermark (writable
// notifications come from a per-loop epoll instance, see drainWatcher).
// Output that makes no progress for Config.WriteTimeout closes the
// connection. Every queue is bounded: the per-loop task queue by
// Config.QueueLimit (Post returns ErrQueueFull), pending input by
// Config.MaxPendingInput, hub backlogs by HubConfig.MaxBacklog.
//
// # Topics
//
// A Hub fans published messages out to subscribers sharded per loop: a
// message is encoded once per wire format and handed to each loop with
// subscribers in one task, with a per-topic history ring for resume and a
// per-topic policy for slow subscribers (close, drop, conflate).
//
// # Concurrency
//
// Handlers, Mode callbacks and functions run by Post execute on the
// connection's loop and must not block. Methods documented "on the loop"
// may only be called there. Server.Stats, Hub.Publish, Conn.Post,
// Conn.PostControl, Deferred.Reply and Loop.Post are safe from any
// goroutine; protocol packages build their goroutine-safe APIs on them.
// gnet's own AsyncWrite queue is unbounded and is not used.
package loop
