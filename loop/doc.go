// Package loop is streamd's reactor: an HTTP/1.1 server on gnet event
// loops (one per core) that keeps every connection in a small state
// machine and hands it to a protocol Mode (an SSE stream, a WebSocket, a
// chunked response) without a goroutine per connection.
//
// # Accepting
//
// The server owns its listener (Go's, with SO_REUSEADDR, so a restarted
// server binds at once) and one accept goroutine that applies
// Config.MaxConns and Config.MaxConnsPerIP (503 above them) and hands each
// connection to the least busy gnet loop. Accept errors such as EMFILE
// back off (5 ms doubling to 1 s, as net/http) and never stop the server;
// gnet's own accept would stop its whole engine on them. Shutdown closes
// the listener first, so clients see a refused connection and retry.
//
// # Request flow
//
// On each read event the loop parses every complete request in the
// connection's input with httpcodec (in place: no copy of the input),
// routes it by method and path, runs the handler, and appends all the
// responses to one per-loop buffer that is written with a single system
// call at the end of the event — pipelined requests are answered in
// order with one write. Only a request that is incomplete at the end of a
// read is copied, once, into a per-connection buffer that grows by what
// arrives; the parser resumes where it stopped and decodes chunked bodies
// in place. A handler that needs slow work calls Ctx.Defer and answers
// from a goroutine; requests pipelined behind it wait, so the order holds.
// A handler that streams calls Ctx.TakeOver with a Mode, which then owns
// the connection's bytes until it ends the stream; whatever ends it (its
// handler, a timer, a drain, a goroutine, another connection's callback),
// the requests pipelined behind it are served next.
//
// # Output ownership
//
// The per-loop output buffer belongs to one connection at a time (cork
// and uncork hand it over, flushing the previous owner's bytes to the
// previous owner), and every append checks the owner: a callback of one
// connection acting on another can never put one client's bytes on
// another's socket.
//
// # Timers, limits and backpressure
//
// Each loop has a hashed timing wheel (TickInterval resolution) for the
// header, request and idle deadlines, input pauses and the modes'
// heartbeats and pings: one entry per connection, no time.Timer per
// connection. Output queued above Config.HighWatermark makes writes report
// Queued; producers pause and get Mode.OnDrain once it falls to
// Config.LowWatermark (writable notifications come from a per-loop epoll
// instance, see drainWatcher). While its output is above the high
// watermark a connection is not read at all: the bytes stay in the kernel
// and TCP slows the client (read backpressure). Output that makes no
// progress for Config.WriteTimeout closes the connection.
//
// What one client can make the server hold is bounded by configuration:
// output by the watermarks, a request by httpcodec.Limits and
// Config.ReadTimeout, input waiting for a stream by Config.MaxPendingInput,
// all buffered request input together by Config.MaxBufferedInput, its
// connections by Config.MaxConnsPerIP. Every queue is bounded: the
// per-loop task queue by Config.QueueLimit (Post returns ErrQueueFull),
// goroutine sends per stream by their Sender's limit, hub backlogs by
// HubConfig.MaxBacklog. Why a connection closed reaches Mode.OnClose and
// Stats.Closes.
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
// may only be called there and panic with their name elsewhere.
// Server.Stats, Hub.Publish, Conn.Post, Conn.PostControl, Sender.Send,
// Deferred.Reply and Loop.Post are safe from any goroutine; protocol
// packages build their goroutine-safe APIs on them (writes from other
// goroutines go through a Sender, one admission path for all of them).
// gnet's own AsyncWrite queue is unbounded and is not used.
package loop
