// Package wsframe is the WebSocket wire codec behind package ws: RFC 6455
// (https://www.rfc-editor.org/rfc/rfc6455) framing and the
// permessage-deflate extension, RFC 7692
// (https://www.rfc-editor.org/rfc/rfc7692).
//
// It is pure: it takes and returns bytes and knows nothing of sockets or of
// package loop, so it is tested, fuzzed and benchmarked alone. It is
// internal: applications write handlers with package ws and never see it.
//
//   - [Decoder] parses client frames in place in the loop's inbound buffer:
//     it unmasks, reassembles fragments, inflates, checks UTF-8, control
//     frame rules, close codes and the read limit, and reports violations
//     as a [*CloseError] carrying the status code to close with.
//   - [AppendFrame], [AppendFrameHeader] and [AppendClose] build unmasked
//     server frames into a caller-owned buffer; [Compressor] builds
//     compressed ones; [AppendMaskedFrame] builds client frames for tests.
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
// An idle connection's [Decoder] is 32 bytes; flate state exists only
// while a compressed message is processed, except for context takeover:
// under client context takeover the decoder keeps the client's LZ77 window
// (1<<client_max_window_bits bytes, 32 KiB by default), and under server
// context takeover the [Compressor] keeps a flate writer (about 800 KB at
// level 1 with klauspost/compress v1.20.3). Negotiating
// server_no_context_takeover and client_no_context_takeover (see
// [DeflateConfig]) frees both between messages: writers and readers then
// come from sync.Pools per message.
//
// # Concurrency
//
// A [Decoder] and a [Compressor] are owned by one goroutine, the
// connection's event loop; they hold no locks and must not be copied after
// first use. A [UTF8Validator] is likewise owned by one goroutine. The
// package-level functions are safe from any goroutine.
package wsframe
