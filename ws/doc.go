// Package ws implements the WebSocket protocol, RFC 6455
// (https://www.rfc-editor.org/rfc/rfc6455), with the permessage-deflate
// extension, RFC 7692 (https://www.rfc-editor.org/rfc/rfc7692), on streamd's
// event loop.
//
// The wire codec is pure: it takes and returns bytes and knows nothing of
// sockets or of package loop, so it is tested, fuzzed and benchmarked alone.
//
//   - [Decoder] parses client frames in place in the loop's inbound buffer:
//     it unmasks, reassembles fragments, inflates, checks UTF-8, control
//     frame rules, close codes and the read limit, and reports violations
//     as a [*CloseError] carrying the status code to close with.
//   - [AppendFrame], [AppendFrameHeader] and [AppendClose] build unmasked
//     server frames into a caller-owned buffer; [Compressor] builds
//     compressed ones.
//   - [AcceptKey], [ValidChallengeKey] and [NegotiateDeflate] serve the
//     opening handshake (RFC 6455, Section 4; RFC 7692, Section 5).
//   - [UTF8Validator] and [MaskBytes] are the building blocks.
//
// A text message delivered in one uncompressed frame costs no allocation and
// no copy: its payload is unmasked in place and handed out as a view into
// the input.
//
// # Memory
//
// An idle socket's [Decoder] is about 150 bytes; flate state exists only
// while a compressed message is processed, except for context takeover:
// under client context takeover the decoder keeps the client's LZ77 window
// (1<<client_max_window_bits bytes, 32 KiB by default), and under server
// context takeover the [Compressor] keeps a flate writer (about 800 KB at
// level 1 with klauspost/compress v1.20.3: for many sockets, negotiate
// server_no_context_takeover). Negotiating server_no_context_takeover and
// client_no_context_takeover (see [DeflateConfig]) frees both between
// messages: writers and readers then come from sync.Pools per message.
//
// # Concurrency
//
// A [Decoder] and a [Compressor] are owned by one goroutine, the
// connection's event loop; they hold no locks. The package-level functions
// are safe from any goroutine. [Upgrader.Upgrade] is called from a handler,
// on the loop; every [Socket] method but OnDrain is safe from any
// goroutine, and OnDrain panics off the loop (see [Socket]).
package ws
