package loop

import "time"

// watchConn adds c to the list of connections with queued output.
func (el *eventLoop) watchConn(c *Conn) {
	if !c.watched {
		c.watched = true
		c.lastSent = c.queuedTotal - uint32(c.gc.OutboundBuffered())
		c.lastProgress = el.wheel.now
		el.watch = append(el.watch, c)
	}
	if c.wantDrain || c.closeAfterFlush || c.outPaused {
		el.armWritable(c)
	}
}

// pollWatch checks every connection with queued output: drained ones
// leave the list (closing those waiting to close, notifying drain
// waiters), stuck ones are closed after WriteTimeout.
func (el *eventLoop) pollWatch() {
	keep := el.watch[:0]
	for _, c := range el.watch {
		if el.checkOutput(c) {
			keep = append(keep, c)
		} else {
			c.watched = false
		}
	}
	clear(el.watch[len(keep):])
	el.watch = keep
}

// checkOutput looks at one watched connection's queued output and reports
// whether it still needs watching.
func (el *eventLoop) checkOutput(c *Conn) bool {
	if c.closed {
		return false
	}
	cfg := &el.srv.cfg
	now := el.wheel.now
	buffered := c.gc.OutboundBuffered()
	if sent := c.queuedTotal - uint32(buffered); sent != c.lastSent {
		c.lastSent, c.lastProgress = sent, now
	}
	if buffered <= cfg.LowWatermark {
		if c.outPaused {
			// Read backpressure ends: serve the input that waited.
			c.outPaused = false
			if c.pauseUntil == 0 {
				el.setReading(c, true)
			}
			el.resumeLater(c)
		}
		if c.wantDrain {
			c.wantDrain = false
			el.drainWaiters--
			if len(el.senders) > 0 {
				if s := el.senders[c]; s != nil {
					delete(el.senders, c)
					s.drained(buffered)
				}
			}
			if c.mode != nil {
				prev := el.cork(c)
				c.mode.OnDrain(c)
				el.uncork(prev)
			}
			if c.closed {
				return false
			}
			buffered = c.gc.OutboundBuffered()
		}
	}
	if buffered == 0 && !c.wantDrain && !c.outPaused {
		if c.closeAfterFlush {
			el.finishClose(c)
		}
		return false
	}
	if buffered > 0 && now-c.lastProgress > ticks(cfg.WriteTimeout) {
		el.srv.logDebug("closing connection", c, ErrWriteTimeout)
		c.closeWith(reasonWriteTimeout)
		return false
	}
	return true
}

// armWritable asks for a writable notification of c when someone waits
// for its output to drain (a producer, or a close after flush): gnet has
// no writable callback for users, so a per-loop epoll instance watches
// those sockets (see drainWatcher). Elsewhere a 1 ms poll does the job.
func (el *eventLoop) armWritable(c *Conn) {
	if el.dw != nil {
		el.dw.arm(c)
		return
	}
	el.armPoll()
}

// onWritable runs on the loop when a watched socket became writable.
func (el *eventLoop) onWritable(c *Conn) {
	if !c.watched || c.closed {
		return
	}
	if !el.checkOutput(c) {
		c.watched = false
		// leaves el.watch at the next tick's pollWatch
		return
	}
	if c.wantDrain || c.closeAfterFlush || c.outPaused {
		el.armWritable(c)
	}
}

// drainPollInterval is how often connections waiting for a drain are
// checked where no drainWatcher is available.
const drainPollInterval = time.Millisecond

// armPoll schedules a fast watch-list check while some connection waits
// for a drain. One timer per loop, never one per connection.
func (el *eventLoop) armPoll() {
	if !el.pollArmed.CompareAndSwap(false, true) {
		return
	}
	if el.pollTimer == nil {
		el.pollTimer = time.AfterFunc(drainPollInterval, el.pollFire)
	} else {
		el.pollTimer.Reset(drainPollInterval)
	}
}

func (el *eventLoop) pollFire() {
	_ = el.post(func() {
		el.pollArmed.Store(false)
		el.pollWatch()
		if el.drainWaiters > 0 || len(el.watch) > 0 {
			el.armPoll()
		}
	})
}
