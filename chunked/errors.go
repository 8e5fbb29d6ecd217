package chunked

import "errors"

var (
	// ErrClosed means the response has ended. Write and Close return an
	// error matching it once the response has ended, wrapping Writer.Err's
	// reason when there is a more specific one (ErrAborted, a loop close
	// reason, the peer's error). As Err's reason it means Close ended the
	// response.
	ErrClosed = errors.New("chunked: writer closed")
	// ErrTrailerNotAnnounced is returned by SetTrailer for a name that was
	// not listed in Options.Trailers (RFC 9110, Section 6.6.2: a sender
	// announces trailers in the Trailer header).
	ErrTrailerNotAnnounced = errors.New("chunked: trailer not announced")
	// ErrAborted is Writer.Err's reason, and the Context's cause, after
	// Abort, a failed Go producer (wrapping its error), or the connection
	// closed by the application before Close: the client saw an incomplete
	// body. Write then returns ErrClosed wrapping it.
	ErrAborted = errors.New("chunked: response aborted")
)
