package main

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/streamd/streamd/internal/testcert"
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
	c := startChild(t, freeAddr(t), startOpts{})
	plain := func(path string) (int, string, error) { return getQuiet(c.base + path) }
	// The socket gnet takes over is a dup(2) of the accepted one, so here
	// the hand-over meets EMFILE first: accept(2) gets the last descriptor.
	emfileBurst(t, c, plain, "")
}

// TestBinaryEMFILETLS: the same over TLS, where accept(2) itself meets
// EMFILE: every accepted socket waits in its handshake, holding its
// descriptor, until the client speaks (the burst's clients never do).
func TestBinaryEMFILETLS(t *testing.T) {
	dir := t.TempDir()
	cert := testcert.New()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, cert, certPath, keyPath)
	c := startChild(t, freeAddr(t), startOpts{args: []string{"-tls-cert", certPath, "-tls-key", keyPath}})
	c.waitLog("tls=true")
	get := func(path string) (int, string, error) { return httpsGet(c.addr, tlsClient(cert), path) }
	emfileBurst(t, c, get, "too many open files")
}

// emfileBurst lowers c's descriptor limit to 256, opens 1,200 connections
// that send nothing, closes them, and checks that c served again and said
// so truly: accept errors counted, one warning when the burst started and
// one "accepting again" line with the burst's count, whose sum is the
// metric. With wantErr, the warning must carry that error.
func emfileBurst(t *testing.T, c *child, get func(path string) (int, string, error), wantErr string) {
	t.Helper()
	const nofile = 256
	lim := unix.Rlimit{Cur: nofile, Max: nofile}
	if err := unix.Prlimit(c.cmd.Process.Pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		t.Fatalf("prlimit(%d, RLIMIT_NOFILE, %d): %v", c.cmd.Process.Pid, nofile, err)
	}
	if st, body, err := get("/healthz"); err != nil || st != 200 || body != "ok" {
		t.Fatalf("GET /healthz: %d %q %v", st, body, err)
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
	for {
		if !c.running() {
			t.Fatalf("streamd exited (%v) after the connection burst; want it to keep serving", c.err)
		}
		st, body, err := get("/healthz")
		if err == nil && st == 200 && body == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("streamd does not serve %v after the burst: %d %q %v", binaryTimeout, st, body, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The test proves something only if accepting did fail.
	_, metrics, err := get("/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	n := metricIn(t, metrics, "streamd_accept_errors_total")
	if n == 0 {
		t.Fatalf("streamd_accept_errors_total = 0: the burst never exhausted the %d descriptors", nofile)
	}
	t.Logf("%v failed accepts, then served again", n)

	// One warning per burst, and each burst's end with its count.
	logs := c.logs.String()
	var warns, agains, failed int
	for line := range strings.Lines(logs) {
		switch {
		case strings.Contains(line, "accept failed; retrying with backoff"):
			warns++
			if wantErr != "" && !strings.Contains(line, wantErr) {
				t.Errorf("warning without %q: %s", wantErr, line)
			}
		case strings.Contains(line, "accepting again"):
			agains++
			_, v, _ := strings.Cut(line, "failed_accepts=")
			k, err := strconv.Atoi(strings.Fields(v + " ")[0])
			if err != nil || k == 0 {
				t.Errorf("accepting again without a count of failures: %s", line)
			}
			failed += k
		}
	}
	if warns == 0 || warns != agains || float64(failed) != n {
		t.Errorf("log: %d warnings, %d \"accepting again\" lines counting %d failures, metric %v; want one of each per burst, the counts adding up to the metric", warns, agains, failed, n)
	}
	c.signal(syscall.SIGTERM)
	if code := c.wait(binaryTimeout); code != 0 {
		t.Fatalf("streamd exited %d after SIGTERM; want 0", code)
	}
}
