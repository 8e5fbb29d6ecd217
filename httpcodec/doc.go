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
// move to another buffer, and the scan resumes where it stopped.
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
// Request fields are views into the bytes given to Parse, as in fasthttp:
// they stay valid until the caller discards those bytes (for gnet, until
// Discard or the end of OnTraffic) or calls Parse again. A chunked body is
// decoded into a buffer owned by the Parser and is valid until the next Parse
// call. Copy what must outlive the request.
//
// The writer functions (AppendStatusLine, AppendHeader, AppendResponse,
// AppendError, ...) append to a caller-owned buffer and do not allocate
// beyond growing it. The Date header is cached and refreshed by RefreshDate.
//
// # Concurrency
//
// A Parser and a Request are owned by one goroutine at a time (in streamd,
// the connection's event loop); they hold no locks. The response functions
// and the Date cache are safe for concurrent use from any goroutine:
// RefreshDate swaps the cached line atomically.
package httpcodec
