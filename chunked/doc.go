// Package chunked writes HTTP/1.1 responses with Transfer-Encoding:
// chunked (RFC 9112, Section 7.1) on the streamd event loop: the Ruby
// original's chunked_stream.
//
// A response is produced either on the loop (Start, then Send from the
// handler or from timers set with After, resuming with OnDrain after a
// Queued result) or by a producer goroutine (Go), whose Write blocks
// while the connection's queued output is above the high watermark and
// fails once the client is gone. Close sends the terminating chunk and
// any trailers announced in Options.Trailers; Abort cuts the connection
// so the client sees an incomplete body. HTTP/1.0 clients get the raw
// body and the connection closes at the end; HEAD gets the head only.
//
// AppendChunk and AppendLastChunk are the pure wire encoders.
//
// # Concurrency
//
// Start and Go are called from a handler, on the loop. Send, After and
// OnDrain are loop-only and panic elsewhere; every other Writer method is
// safe from any goroutine (see Writer). AppendChunk and AppendLastChunk
// are pure.
package chunked
