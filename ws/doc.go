// Package ws serves WebSocket connections, RFC 6455
// (https://www.rfc-editor.org/rfc/rfc6455), with the permessage-deflate
// extension, RFC 7692 (https://www.rfc-editor.org/rfc/rfc7692), on
// streamd's event loop.
//
// A route's handler calls [Upgrade] (or [Upgrader.Upgrade], with
// [Options]) to answer the opening handshake; the connection then belongs
// to a [Socket], and the [Handler]'s callbacks run on the connection's
// loop as messages arrive. [Socket.Send] and friends reply, [Socket.Join]
// subscribes to a hub topic fed by [Publish], and [Socket.Close] starts the
// closing handshake with a [StatusCode]. A client that breaks the protocol
// is closed with the matching code, and Handler.OnError receives a
// [*CloseError] saying why.
//
// The server answers pings, pings idle clients (Options.PingInterval),
// checks the handshake's Origin (Options.CheckOrigin, [SameOrigin] by
// default), caps messages (Options.ReadLimit) and can limit each client's
// message rate (Options.MessageRate, [RatePolicy]). The frame codec lives
// in an internal package: it is pure, fuzzed and benchmarked alone.
//
// # Memory
//
// An idle socket is 128 bytes plus the loop's connection; the state of a
// fragmented or compressed message exists only while one is in progress.
// Compression costs more: under server context takeover every socket keeps
// a flate writer (about 800 KB) and under client context takeover the
// client's window (up to 32 KiB). For many sockets, set
// [DeflateConfig].ServerNoContextTakeover (and ClientNoContextTakeover),
// which frees both between messages.
//
// # Concurrency
//
// [Upgrade] and [Upgrader.Upgrade] are called from a route's handler, on
// the loop. Every [Socket] method but OnDrain is safe from any goroutine:
// on the loop it writes directly, from elsewhere the frame is queued and
// written by the loop in call order; OnDrain belongs to the loop and
// panics with its name elsewhere (see [Socket]). Handler callbacks always
// run on the socket's loop and must not block. [Publish] and the
// package's other functions are safe from any goroutine.
package ws
