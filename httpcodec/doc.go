// Package httpcodec implements an incremental HTTP/1.1 request parser and an
// append-style response writer for event-loop servers. It uses only the
// standard library.
//
// The Parser reads the request line, header fields, Content-Length and
// chunked bodies (with trailers) as specified by RFC 9112 (HTTP/1.1 message
// syntax) and RFC 9110 (semantics: Host, Connection, Expect, Upgrade). It is
// push-style: the caller passes every unconsumed byte of the connection,
// gets a complete Request and its size, or ErrNeedMore, and calls again when
// more bytes arrive. Only offsets are kept between calls, so the bytes may
// move to another buffer, and the scan resumes where it stopped. A chunked
// body is decoded in place, in the caller's buffer; after ErrNeedMore,
// Parser.Compact drops the framing already decoded, so a request costs the
// caller its head and decoded body, not its wire size.
//
// The parser is strict where leniency enables request smuggling
// (RFC 9112, Section 11.2): bare LF line endings, obs-fold, whitespace before
// a field name's colon, Content-Length together with Transfer-Encoding,
// differing duplicate Content-Length and Transfer-Encoding codings other
// than "chunked" are all rejected. Limits (see Limits) default on. Errors are
// *ProtocolError values carrying the status code to answer with.
//
// # Slice lifetime
//
// Request fields, the body included, are views into the bytes given to
// Parse, as in fasthttp: they stay valid until the caller discards those
// bytes (for gnet, until Discard or the end of OnTraffic) or calls Parse
// again. Copy what must outlive the request.
//
// Parse writes into its input (it decodes chunked bodies in place) and needs
// those writes back on the next call, so the input of an incomplete request
// must live in a buffer the caller owns, not in a temporary copy. gnet's
// Peek returns such a copy when the inbound bytes are not contiguous.
//
// The writer functions (AppendStatusLine, AppendHeader, AppendResponseHead
// and AppendResponse for a ResponseHead, AppendError, ...) append to a
// caller-owned buffer and do not allocate beyond growing it. The Date header
// is cached and refreshed by RefreshDate.
//
// # Concurrency
//
// A Parser and a Request are owned by one goroutine at a time (in streamd,
// the connection's event loop); they hold no locks. The response functions
// and the Date cache are safe for concurrent use from any goroutine:
// RefreshDate swaps the cached line atomically.
package httpcodec
