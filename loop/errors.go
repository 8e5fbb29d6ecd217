package loop

import "errors"

var (
	// ErrQueueFull is returned by Post when the loop's task queue holds
	// Config.QueueLimit tasks. Nothing was queued; the caller chooses to
	// drop, retry later or close.
	ErrQueueFull = errors.New("loop: task queue full")
	// ErrServerClosed is returned by Post, PostControl and Deferred.Reply
	// once the server has stopped (or its event loops stopped): the task
	// was not queued and will never run.
	ErrServerClosed = errors.New("loop: server closed")
	// ErrAlreadyResponded is returned by Deferred.Reply after the first
	// reply.
	ErrAlreadyResponded = errors.New("loop: response already written")
	// ErrReplyTimeout is returned by Deferred.Reply when Config.ReplyTimeout
	// passed first: the client got 503 and the connection closed.
	ErrReplyTimeout = errors.New("loop: deferred reply timed out")
	// ErrEngineStopped is returned by Serve when the event loops stopped
	// without a shutdown having been asked for.
	ErrEngineStopped = errors.New("loop: event loops stopped unexpectedly")
)

// Close reasons: Mode.OnClose receives one of these when the loop closed
// the connection itself; nil when the application closed it; the peer's
// error (io.EOF, or a *os.SyscallError for a reset) when the peer did.
// Stats.Closes counts them by name.
var (
	// ErrWriteTimeout: the connection's queued output made no progress for
	// Config.WriteTimeout (a peer that stopped reading).
	ErrWriteTimeout = errors.New("loop: write timeout")
	// ErrIdleTimeout: a keep-alive connection sent no request for
	// Config.IdleTimeout.
	ErrIdleTimeout = errors.New("loop: idle timeout")
	// ErrHeaderTimeout: a request head was not complete within
	// Config.ReadHeaderTimeout (the client got 408).
	ErrHeaderTimeout = errors.New("loop: request header timeout")
	// ErrReadTimeout: a request (head and body) was not complete within
	// Config.ReadTimeout (the client got 408).
	ErrReadTimeout = errors.New("loop: request read timeout")
	// ErrInputOverflow: the connection sent more than Config.MaxPendingInput
	// bytes that could not be processed yet.
	ErrInputOverflow = errors.New("loop: too much pending input")
	// ErrOverloaded: the server's budget for buffered request input
	// (Config.MaxBufferedInput) was exhausted (the client got 503).
	ErrOverloaded = errors.New("loop: buffered input budget exhausted")
	// ErrBadRequest: the client sent a malformed request (it got a 4xx
	// answer).
	ErrBadRequest = errors.New("loop: bad request")
	// ErrShutdown: graceful shutdown ended the connection.
	ErrShutdown = errors.New("loop: server shutting down")
	// ErrTLS: a TLS record from the client could not be processed (a bad
	// record, an unexpected alert, a renegotiation attempt); crypto/tls
	// sent the client an alert. The debug log has crypto/tls's error.
	ErrTLS = errors.New("loop: TLS error")
)

// Hub errors.
var (
	// ErrTooManyTopics is returned when a new topic would exceed
	// HubConfig.MaxTopics.
	ErrTooManyTopics = errors.New("loop: too many topics")
	// ErrBacklog is returned by Publish when a loop still has
	// HubConfig.MaxBacklog undelivered messages of the topic: the loops
	// cannot keep up. Nothing was published (no subscriber gets it, the
	// history does not record it); the publisher may retry later.
	ErrBacklog = errors.New("loop: publish backlog full")
	// ErrBadTopic is returned for an empty topic name.
	ErrBadTopic = errors.New("loop: empty topic name")
)
