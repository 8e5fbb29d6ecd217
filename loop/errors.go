package loop

import "errors"

var (
	// ErrClosed is returned by Conn methods after the connection is closed.
	ErrClosed = errors.New("loop: connection closed")
	// ErrQueueFull is returned by Post when the loop's task queue holds
	// Config.QueueLimit tasks. Nothing was queued; the caller chooses to
	// drop, retry later or close.
	ErrQueueFull = errors.New("loop: task queue full")
	// ErrServerClosed is returned by Post once the server has stopped.
	ErrServerClosed = errors.New("loop: server closed")
	// ErrAlreadyResponded is returned when a handler answers twice or
	// takes over a connection it has already answered.
	ErrAlreadyResponded = errors.New("loop: response already written")
	// ErrWriteTimeout is the close reason of a connection whose output made
	// no progress for Config.WriteTimeout.
	ErrWriteTimeout = errors.New("loop: write timeout")
	// ErrIdleTimeout is the close reason of a keep-alive connection idle
	// for Config.IdleTimeout.
	ErrIdleTimeout = errors.New("loop: idle timeout")
	// ErrHeaderTimeout is the close reason of a connection that did not
	// send a complete request head within Config.ReadHeaderTimeout.
	ErrHeaderTimeout = errors.New("loop: request header timeout")
	// ErrInputOverflow is the close reason of a connection that sent more
	// than Config.MaxPendingInput bytes that could not be processed yet.
	ErrInputOverflow = errors.New("loop: too much pending input")
	// ErrShutdown is the close reason of connections cut by shutdown.
	ErrShutdown = errors.New("loop: server shutting down")
)
