package loop

// WriteResult is the outcome of a write, as uWebSockets reports it.
type WriteResult uint8

const (
	// Written means the bytes were handed to the kernel or sit in a queue
	// below the high watermark.
	Written WriteResult = iota
	// Queued means the bytes were accepted but the connection's queued
	// output is now above the high watermark: the producer should pause
	// and ask for a drain callback.
	Queued
	// Dropped means the bytes were not accepted (the connection is closed,
	// or a policy above this layer chose to drop them).
	Dropped
)

func (r WriteResult) String() string {
	switch r {
	case Written:
		return "written"
	case Queued:
		return "queued"
	default:
		return "dropped"
	}
}
