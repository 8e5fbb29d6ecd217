package sse

import "errors"

var (
	// ErrInvalidID is returned for an event id containing CR, LF or NUL,
	// which the client would split or ignore.
	ErrInvalidID = errors.New("sse: event id contains CR, LF or NUL")
	// ErrInvalidEventName is returned for an event name containing CR or LF.
	ErrInvalidEventName = errors.New("sse: event name contains CR or LF")
	// ErrClosed is returned after the stream ended.
	ErrClosed = errors.New("sse: stream closed")
	// ErrNoHub is returned by Join when the stream has no hub.
	ErrNoHub = errors.New("sse: no hub configured")
)
