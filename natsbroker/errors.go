package natsbroker

import "errors"

// Broker errors. Match them with errors.Is: Publish and History wrap them
// with the underlying nats.go error.
var (
	// ErrUnavailable is wrapped by the error of Publish and History when NATS
	// cannot be reached (disconnected, no JetStream responder, no answer in
	// time). For Publish it means the message is not known to be stored: a
	// caller that retries with a new Publish may store it twice.
	ErrUnavailable = errors.New("natsbroker: NATS unavailable")
	// ErrBadTopic is returned for an empty topic or one longer than
	// MaxTopicLen bytes.
	ErrBadTopic = errors.New("natsbroker: bad topic name")
	// ErrBadField is returned by Publish when Delivery.ID, Event or Key
	// contains CR, LF or NUL: they travel as NATS header values.
	ErrBadField = errors.New("natsbroker: CR, LF or NUL in ID, Event or Key")
	// ErrClosed is returned by methods called after Close.
	ErrClosed = errors.New("natsbroker: broker closed")
	// ErrStarted is returned by a second call of Start.
	ErrStarted = errors.New("natsbroker: already started")
)
