package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamd/streamd/loop"
)

// startWithConfig runs the whole server in-process with cfg (on a free
// local port) and returns its base URL and log; the test's end shuts it
// down and checks run returned nil.
func startWithConfig(t *testing.T, cfg config) (base string, logs *syncBuffer) {
	t.Helper()
	logs = &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: cfg.logLevel}))
	cfg.addr = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, cfg, log, func(addr net.Addr, _ *loop.Server, _ *app) { ready <- "http://" + addr.String() })
	}()
	select {
	case base = <-ready:
	case err := <-errc:
		cancel()
		t.Fatalf("run: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("server did not start within 20s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("run returned %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("run did not return 20s after the shutdown")
		}
	})
	return base, logs
}

var accessLine = regexp.MustCompile(`level=INFO msg=request method=(\S+) path=(\S+) remote=127\.0\.0\.1:\d+ conn_id=\d+ duration=\S+\n`)

// TestAccessLog checks the access log over the real handlers: one line per
// routed request, written before the response leaves (so it is there when
// the client has the response), for plain, POST and streaming routes;
// requests no route handles are not logged (loop answers them itself).
func TestAccessLog(t *testing.T) {
	base, logs := startWithConfig(t, config{loops: 2, logLevel: slog.LevelInfo, shutdownTimeout: 5 * time.Second, accessLog: true})
	client := &http.Client{Timeout: 20 * time.Second}
	defer client.CloseIdleConnections()

	if resp, body := get(t, base+"/hello?secret=x"); resp.StatusCode != 200 || body != "Hello, World!" {
		t.Fatalf("GET /hello = %d %q", resp.StatusCode, body)
	}
	resp, err := client.PostForm(base+"/chat", url.Values{"message": {"hi"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("POST /chat = %d; want 204", resp.StatusCode)
	}
	// A stream: its handler returns once the stream is open, and the line
	// is logged then, not when the stream ends.
	resp, err = client.Get(base + "/sse/clock")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp, _ := get(t, base+"/nope"); resp.StatusCode != 404 {
		t.Fatalf("GET /nope = %d; want 404", resp.StatusCode)
	}

	var got []string
	for _, m := range accessLine.FindAllStringSubmatch(logs.String(), -1) {
		got = append(got, m[1]+" "+m[2])
	}
	want := []string{"GET /hello", "POST /chat", "GET /sse/clock"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("access log lines = %q; want %q\nlog:\n%s", got, want, logs.String())
	}
	if strings.Contains(logs.String(), "secret") {
		t.Errorf("the access log shows the query:\n%s", logs.String())
	}
}

func TestAccessLogOffByDefault(t *testing.T) {
	base, logs := startWithConfig(t, config{loops: 1, logLevel: slog.LevelDebug, shutdownTimeout: 5 * time.Second})
	if resp, _ := get(t, base+"/hello"); resp.StatusCode != 200 {
		t.Fatalf("GET /hello = %d", resp.StatusCode)
	}
	if strings.Contains(logs.String(), "msg=request") {
		t.Errorf("access log lines without -access-log:\n%s", logs.String())
	}
}

// TestBinaryAccessLog runs the real binary with -access-log: the flag
// reaches the handlers.
func TestBinaryAccessLog(t *testing.T) {
	c := startChild(t, freeAddr(t), startOpts{args: []string{"-access-log"}})
	if resp, _ := get(t, c.base+"/healthz"); resp.StatusCode != 200 {
		t.Fatalf("GET /healthz = %d", resp.StatusCode)
	}
	c.waitLog("msg=request") // the child's stderr arrives through a pipe
	if m := accessLine.FindStringSubmatch(c.logs.String()); m == nil || m[1] != "GET" || m[2] != "/healthz" {
		t.Errorf("no access log line for GET /healthz:\n%s", c.logs.String())
	}
	c.signal(syscall.SIGTERM)
	if code := c.wait(binaryTimeout); code != 0 {
		t.Fatalf("streamd exited %d after SIGTERM; want 0", code)
	}
}
