package chunked

import "errors"

var (
	// ErrClosed is returned by Writer methods after Close or Abort, and
	// after the client went away.
	ErrClosed = errors.New("chunked: writer closed")
	// ErrTrailerNotAnnounced is returned by SetTrailer for a name that was
	// not listed in Options.Trailers (RFC 9110, Section 6.6.2: a sender
	// announces trailers in the Trailer header).
	ErrTrailerNotAnnounced = errors.New("chunked: trailer not announced")
	// ErrAborted is returned by Write after Abort or a failed producer.
	ErrAborted = errors.New("chunked: response aborted")
)
