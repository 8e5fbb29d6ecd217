package loop

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// shutdown drains connections until none is left or the deadline passes.
func (s *Server) shutdown() {
	s.draining.Store(true)
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "shutting down",
		slog.Int64("open", s.openConns()), slog.Duration("timeout", s.cfg.ShutdownTimeout))
	for _, el := range *s.loops.Load() {
		_ = el.postControl(el.shutdown)
	}
	deadline := time.Now().Add(s.cfg.ShutdownTimeout)
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for s.openConns() > 0 && time.Now().Before(deadline) {
		<-poll.C
	}
}

// shutdown asks every connection to finish: idle ones close now, streams
// are told by their mode, busy ones close after their response.
func (el *eventLoop) shutdown() {
	for c := el.conns; c != nil; {
		next := c.lnext
		switch {
		case c.mode != nil:
			c.reason = reasonShutdown // however the mode ends it
			prev := el.cork(c)
			c.mode.OnShutdown(c)
			el.uncork(prev)
		case c.deferred || (c.pend != nil && c.pend.parser != nil):
			// serve and Deferred.Reply see draining and close after the
			// response; the shutdown deadline cuts slow ones.
		case c.gc.OutboundBuffered() > 0:
			c.reason = reasonShutdown
			c.CloseAfterFlush()
		default:
			c.closeWith(reasonShutdown)
		}
		c = next
	}
}

// closeAll closes every connection still open at the shutdown deadline.
func (el *eventLoop) closeAll() {
	for c := el.conns; c != nil; {
		next := c.lnext
		c.closeWith(reasonShutdown)
		c = next
	}
}

func (el *eventLoop) stopTimers() {
	// The loop goroutine is gone; its ID may be reused by another.
	el.stoppedLoop.Store(true)
	el.gid.Store(0)
	if el.pollTimer != nil {
		el.pollTimer.Stop()
	}
	if el.dw != nil {
		el.dw.stop()
	}
}

// waitTimeout waits for wg, at most d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
