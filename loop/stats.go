package loop

import "sync/atomic"

// Stats is a snapshot of the server's counters.
type Stats struct {
	// Open connections now; Accepted since start; Requests served;
	// Refused with 503 at accept (MaxConns, MaxConnsPerIP, shutdown);
	// BadRequests answered with a 4xx by the parser.
	Open, Accepted, Requests, Refused, BadRequests int64
	// AcceptErrors counts failed accept(2) calls (EMFILE and the like),
	// each retried after a backoff.
	AcceptErrors int64
	// ReadPauses counts the times a connection's reading was paused
	// because its queued output was above the high watermark.
	ReadPauses int64
	// BufferedInput is the input held for incomplete requests now, in
	// bytes (see Config.MaxBufferedInput); BufferedInputPeak its highest
	// value since start.
	BufferedInput, BufferedInputPeak int64
	// InputCopied counts input bytes copied into per-connection buffers
	// (partial requests): each byte is copied once however slowly it
	// arrives, so this stays near the size of the partial requests.
	InputCopied int64
	// Yields counts the runs of a loop's task queue deferred to after its
	// next poll of its sockets: tasks that come as fast as the loop runs
	// them cannot keep it from its connections (see yield.go).
	Yields int64
	// Closes counts closed connections by reason: "app" (the application
	// or the end of an HTTP exchange, e.g. "Connection: close"), "peer",
	// "idle_timeout", "header_timeout", "read_timeout", "write_timeout",
	// "input_overflow", "input_budget", "bad_request", "shutdown",
	// "tls_error", "reply_timeout".
	Closes map[string]int64
	// TLSHandshakes counts completed TLS handshakes, TLSHandshakeErrors
	// failed ones (a bad or silent client, TLSHandshakeTimeout, shutdown),
	// TLSHandshaking the handshakes in flight now (counted in
	// Config.MaxConns) and TLSHandshakeWaiting those of them waiting for
	// a slot to compute in (Config.MaxTLSHandshakes).
	TLSHandshakes, TLSHandshakeErrors, TLSHandshaking, TLSHandshakeWaiting int64
}

// Stats sums the per-loop counters. Safe from any goroutine.
func (s *Server) Stats() Stats {
	st := Stats{
		Refused:             s.refused.Load(),
		AcceptErrors:        s.acceptErrors.Load(),
		BufferedInput:       s.bufferedInput.Load(),
		BufferedInputPeak:   s.bufferedPeak.Load(),
		TLSHandshakes:       s.tlsDone.Load(),
		TLSHandshakeErrors:  s.tlsFailed.Load(),
		TLSHandshaking:      s.handshaking.Load(),
		TLSHandshakeWaiting: s.hsWaiting.Load(),
		Closes:              make(map[string]int64, numReasons),
	}
	for r := reasonApp; r < numReasons; r++ {
		st.Closes[reasonNames[r]] = 0
	}
	els := *s.loops.Load()
	if v := s.vloops.Load(); v != nil {
		els = append(els[:len(els):len(els)], *v...)
	}
	for _, el := range els {
		st.Open += el.stats.open.Load()
		st.Accepted += el.stats.accepted.Load()
		st.Requests += el.stats.requests.Load()
		st.Refused += el.stats.refused.Load()
		st.BadRequests += el.stats.errors.Load()
		st.ReadPauses += el.stats.paused.Load()
		st.InputCopied += el.stats.copied.Load()
		st.Yields += el.stats.yields.Load()
		for r := reasonApp; r < numReasons; r++ {
			st.Closes[reasonNames[r]] += el.stats.closes[r].Load()
		}
	}
	return st
}

// loopStats are written by the loop only and read by Server.Stats.
type loopStats struct {
	open     atomic.Int64
	accepted atomic.Int64
	requests atomic.Int64
	refused  atomic.Int64
	errors   atomic.Int64
	paused   atomic.Int64
	copied   atomic.Int64
	yields   atomic.Int64
	closes   [numReasons]atomic.Int64
	_        [64]byte // keep loops' counters on separate cache lines
}
