// Package loop is streamd's reactor: an HTTP/1.1 server on gnet event
// loops (one per core) that hands streams to the sse, ws and chunked
// packages, with no goroutine per connection.
//
// # For applications
//
// New makes a Server from a Config; register routes (GET, POST, Handle),
// each a HandlerFunc answering through its Ctx (Text, Bytes, Error, or
// Defer and a Deferred replying from a goroutine); then Serve, and watch
// Stats. Config.TLS serves HTTPS on the loops. Server.HTTPHandler serves
// the same routes inside a net/http server instead, or as well (an
// HTTPHandler, stopped with its Shutdown). What differs there, by
// construction: each request is a connection of its own to the handlers
// (keep-alive, pipelining, HTTP/1.0 and HEAD framing are net/http's, and a
// stream's end ends its response); WebSocket needs HTTP/1.1 (a hijack; RFC
// 8441 is not supported); net/http reads the body before the handler runs
// (Limits.MaxBodyBytes and MaxBufferedInput still apply; ReadTimeout and
// 100-continue are net/http's); a client's reset reaches OnClose as
// io.EOF; MaxConns and MaxConnsPerIP do not apply; output reaches
// net/http through a goroutine, so a burst queues a little more before it
// is written. A Hub (NewHub, HubConfig, TopicConfig, Policy, TopicStats)
// publishes a Publication to a topic's subscribers; streams report each
// send as a WriteResult. A Loop runs work on one event loop.
//
// # For protocol packages
//
// The rest, in files proto_*.go, documented "For protocol packages", is
// what sse, ws, chunked and broker adapters build on: Ctx.TakeOver hands
// the connection, a Conn (also Ctx.Conn), to a Mode, and
// Ctx.WriteStreamHead writes its head; a Sender admits writes from
// goroutines, and a Drain holds a stream's OnDrain callback;
// RegisterCodec, CodecID, Publication.Frame and Publication.Seq encode
// publications; Hub.Subscribe takes a Subscriber and a Resume and returns
// a Subscription, and Hub.Resume catches a stream of several topics up
// with one id (a Replayer gets it later when it comes from the broker's
// history); a Broker sequences publications and carries them between
// hubs, each as a Delivery.
//
// # Concurrency
//
// Handlers, Mode callbacks and Post's functions run on the connection's
// loop and must not block. Each method says whether it is safe from any
// goroutine or runs on the loop; the loop-only methods of Conn and
// Subscription panic elsewhere, naming themselves. A Ctx belongs to its
// handler call: its methods (and functions that take one, such as
// ws.Upgrade) run in the handler, on the loop, and a Ctx is not used after
// the handler returns (Ctx.Defer gives a Deferred for later).
package loop

// Why a fenced section, not a sub-package for the hooks: they cannot live
// apart from the loop's internals without an import cycle or a cost on the
// hot path. TakeOver and WriteStreamHead are methods of Ctx, Subscribe of
// Hub, Frame of Publication; every hook takes or returns a *Conn, whose
// methods (Write, SetTimer, EndMode, ...) work on the event loop's cork
// buffer, timing wheel and watch list. A loop/stream package holding Conn
// and Mode would have to import loop for those internals while loop
// imports it for Mode: a cycle. Type aliases in a sub-package would break
// the cycle but hide nothing (the names stay in loop) and scatter the
// docs; defined types with forwarding methods would hide them at the price
// of a wrapper call on every write. So the hooks stay in loop, marked:
// files proto_*.go, docs starting "For protocol packages:", the two
// sections above, and TestAPIFence keeping the three in agreement.
