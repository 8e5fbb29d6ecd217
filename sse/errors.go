package sse

import "errors"

var (
	// ErrInvalidID is returned for an event id containing CR, LF or NUL,
	// which the client would split or ignore.
	ErrInvalidID = errors.New("sse: event id contains CR, LF or NUL")
	// ErrInvalidEventName is returned for an event name containing CR or LF.
	ErrInvalidEventName = errors.New("sse: event name contains CR or LF")
	// ErrClosed means the stream was closed by the application (Close, or
	// its handler closing the connection). Stream.Err reports it as the
	// reason the stream ended; Join returns it for a stream that is
	// closing or has ended, whatever ended it (Err then tells why).
	ErrClosed = errors.New("sse: stream closed")
	// ErrSlowConsumer is Stream.Err's reason for a stream that a topic's
	// loop.PolicyClose closed because the client read too slowly; the
	// browser reconnects with Last-Event-ID and gets what it missed.
	ErrSlowConsumer = errors.New("sse: stream closed: client too slow for a topic")
	// ErrNoHub is returned by Join when the stream has no hub.
	ErrNoHub = errors.New("sse: no hub configured")
)
