package main

import (
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestBinaryEMFILE (item 10): when the process runs out of file
// descriptors, accept(2) fails with EMFILE; the server must ride it out
// (stop accepting for a while, serve again once descriptors are free),
// not stop. The child's limit is lowered to 256 after it started, so
// that MaxConns (derived from the limit at start, minus a reserve) does
// not shield accept: the state of a server whose descriptors are used up
// by anything (connections under a MaxConns set too high, outbound
// sockets, files). A lower limit from the start is no reliable trigger:
// MaxConns then refuses connections, and EMFILE only happens when a
// burst outruns the refusals.
func TestBinaryEMFILE(t *testing.T) {
	const nofile = 256
	c := startChild(t, freeAddr(t), startOpts{})
	lim := unix.Rlimit{Cur: nofile, Max: nofile}
	if err := unix.Prlimit(c.cmd.Process.Pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		t.Fatalf("prlimit(%d, RLIMIT_NOFILE, %d): %v", c.cmd.Process.Pid, nofile, err)
	}
	if err := healthz(c.base); err != nil {
		t.Fatal(err)
	}
	const workers, perWorker = 8, 150 // 1,200 connections, 4.7× the limit
	var (
		mu      sync.Mutex
		conns   []net.Conn
		dialErr = map[string]int{}
		wg      sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for range perWorker {
				conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
				mu.Lock()
				if err != nil {
					dialErr[err.Error()]++
				} else {
					conns = append(conns, conn)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("%d connections open, dial errors: %v", len(conns), dialErr)
	// The kernel completes connections in the listen backlog even when
	// the server cannot accept them, so most dials succeed either way.
	if !c.running() {
		t.Errorf("streamd exited (%v) while %d connections were open; want it to keep running", c.err, len(conns))
	}

	for _, conn := range conns {
		conn.Close()
	}
	// The descriptors are free again: the server must serve again soon,
	// in the same process.
	deadline := time.Now().Add(binaryTimeout)
	var err error
	for {
		if !c.running() {
			t.Fatalf("streamd exited (%v) after the connection burst; want it to keep serving", c.err)
		}
		if err = healthz(c.base); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("streamd does not serve %v after the burst: %v", binaryTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The test proves something only if accept did fail.
	if n := metricValue(t, c.base, "streamd_accept_errors_total"); n == 0 {
		t.Errorf("streamd_accept_errors_total = 0: the burst never exhausted the %d descriptors", nofile)
	} else {
		t.Logf("%v failed accepts, then served again", n)
	}
	c.signal(syscall.SIGTERM)
	if code := c.wait(binaryTimeout); code != 0 {
		t.Fatalf("streamd exited %d after SIGTERM; want 0", code)
	}
}
