// Package proto is the line protocol between the bench driver and loadclient
// processes: the client prints one JSON Event per line on stdout; the driver
// closes the client's stdin to tell it to stop.
package proto

import (
	"github.com/HdrHistogram/hdrhistogram-go"
)

// Event types.
const (
	EvReady  = "ready"  // all connections attempted; Conns established, Failed not
	EvSeq    = "seq"    // fan-out: every established conn has received message Seq
	EvResult = "result" // final report; the process exits after it
)

// Event is one stdout line of a loadclient.
type Event struct {
	Type      string                 `json:"type"`
	Conns     int                    `json:"conns,omitempty"`
	Failed    int                    `json:"failed,omitempty"`
	Seq       int                    `json:"seq,omitempty"`
	Messages  int64                  `json:"messages,omitempty"`   // delivered or echoed messages
	Expected  int64                  `json:"expected,omitempty"`   // fan-out: conns × publishes
	Bytes     int64                  `json:"bytes,omitempty"`      // chunked: body bytes
	BadBodies int                    `json:"bad_bodies,omitempty"` // chunked: downloads of the wrong size
	Seconds   float64                `json:"seconds,omitempty"`    // measured interval
	Resumed   int64                  `json:"resumed,omitempty"`    // handshake: TLS sessions resumed
	TLS       string                 `json:"tls,omitempty"`        // what the first TLS handshake negotiated
	Errors    []string               `json:"errors,omitempty"`     // first few distinct errors
	Hist      *hdrhistogram.Snapshot `json:"hist,omitempty"`       // latency in microseconds
}

// NewHist returns the latency histogram used everywhere: 1 µs .. 60 s, 3 digits.
func NewHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, 60_000_000, 3)
}
