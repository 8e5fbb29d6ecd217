package ws

import (
	"math"
	"strconv"
	"time"
)

// RatePolicy is what a socket does with an inbound message that finds its
// rate limit ([Options.MessageRate]) out of tokens.
type RatePolicy uint8

const (
	// RatePause, the default, stops reading the connection until the next
	// token is due (loop.Conn.PauseInput: at least the loop's 100 ms
	// tick): the message and everything after it wait in the kernel, so
	// TCP flow control slows the client down, and nothing is dropped or
	// reordered. Everything waits, the client's close frame and pongs
	// included: a client that keeps more than PingInterval's worth of
	// messages queued can be closed for a pong timeout.
	RatePause RatePolicy = iota
	// RateClose fails the socket with 1008 (policy violation).
	RateClose
)

// String returns "pause" or "close". Safe from any goroutine.
func (p RatePolicy) String() string {
	switch p {
	case RatePause:
		return "pause"
	case RateClose:
		return "close"
	}
	return "RatePolicy(" + strconv.Itoa(int(p)) + ")"
}

// rateLimiter is a token bucket kept as one timestamp, the theoretical
// arrival time of the generic cell rate algorithm (GCRA, ITU-T I.371):
// with interval T = 1/rate and tolerance τ = (burst-1)·T, a message at
// time t conforms if tat - t ≤ τ, and then moves tat to max(tat, t) + T.
// This is exactly a bucket of burst tokens refilled at rate: in any
// interval of length d at most burst + rate·d messages conform. The zero
// value is a full bucket. Loop-only.
type rateLimiter struct {
	tat int64 // ns on monoNow's clock; ≤ now means a full bucket
}

// rateParams are a limiter's constants, derived from Options.
type rateParams struct {
	interval  int64 // ns per token, rounded up: never faster than the rate
	tolerance int64 // (burst-1) × interval
}

// maxTolerance keeps tat arithmetic clear of overflow.
const maxTolerance = math.MaxInt64 / 4

// rateParams returns the limiter's constants and whether a limit is set
// (MessageRate positive and finite).
func (o *Options) rateParams() (rateParams, bool) {
	r := o.MessageRate
	if !(r > 0) || math.IsInf(r, 1) {
		return rateParams{}, false
	}
	p := rateParams{interval: maxTolerance}
	if iv := math.Ceil(float64(time.Second) / r); iv < maxTolerance {
		p.interval = max(1, int64(iv))
	}
	burst := o.MessageBurst
	if burst <= 0 {
		burst = max(1, int(min(r, math.MaxInt32)))
	}
	if int64(burst-1) > maxTolerance/p.interval {
		p.tolerance = maxTolerance
	} else {
		p.tolerance = int64(burst-1) * p.interval
	}
	return p, true
}

// wait returns 0 if a token is available at now, or else how long until
// one is.
func (l *rateLimiter) wait(now int64, p rateParams) time.Duration {
	if d := l.tat - p.tolerance - now; d > 0 {
		return time.Duration(d)
	}
	return 0
}

// take spends a token at now; wait(now) must have returned 0.
func (l *rateLimiter) take(now int64, p rateParams) { l.tat = max(l.tat, now) + p.interval }

// monoEpoch anchors monoNow.
var monoEpoch = time.Now()

// monoNow is the rate limiters' clock: monotonic nanoseconds since the
// package was initialised (always > 0 once any time has passed).
func monoNow() int64 { return int64(time.Since(monoEpoch)) }
