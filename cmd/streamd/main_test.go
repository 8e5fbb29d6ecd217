package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/streamd/streamd/internal/testsrv"
	"github.com/streamd/streamd/loop"
)

// TestMain checks every test of the package for leaked goroutines and
// removes the streamd binary the tests built (binary_test.go). The other
// test files of this package rely on it; do not add another.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, append(testsrv.GoleakOptions(), goleak.Cleanup(func(code int) {
		removeBinary()
		os.Exit(code)
	}))...)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testApp is the whole cmd/streamd server running in-process.
type testApp struct {
	base string
	srv  *loop.Server
	app  *app // for the demos' test hooks
	logs *syncBuffer
	stop func() error // cancels and waits for run to return
}

func startApp(t *testing.T, loops int) *testApp {
	t.Helper()
	return startAppConfig(t, config{addr: "127.0.0.1:0", loops: loops, logLevel: slog.LevelInfo, shutdownTimeout: 5 * time.Second})
}

// startAppConfig runs the server with cfg until the test ends; its base
// is https:// when cfg has a certificate.
func startAppConfig(t *testing.T, cfg config) *testApp {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	type started struct {
		addr net.Addr
		srv  *loop.Server
		app  *app
	}
	ready := make(chan started, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, cfg, log, func(addr net.Addr, srv *loop.Server, a *app) { ready <- started{addr, srv, a} })
	}()
	var st started
	select {
	case st = <-ready:
	case err := <-errc:
		cancel()
		t.Fatalf("run: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("server did not start within 10s")
	}
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-errc:
			case <-time.After(20 * time.Second):
				runErr = context.DeadlineExceeded
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("run returned %v", err)
		}
	})
	scheme := "http://"
	if cfg.tlsCert != "" {
		scheme = "https://"
	}
	return &testApp{base: scheme + st.addr.String(), srv: st.srv, app: st.app, logs: logs, stop: stop}
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	client.CloseIdleConnections()
	return resp, string(body)
}

func TestParseConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    config
		wantErr string
	}{
		{name: "defaults", want: config{backend: "gnet", addr: ":8080", logLevel: slog.LevelInfo, shutdownTimeout: 10 * time.Second,
			maxConnsPerIP: 1000, readTimeout: 30 * time.Second, natsReplicas: 1}},
		{name: "flags", args: []string{"-addr", "127.0.0.1:9000", "-loops", "3", "-log-level", "debug", "-shutdown-timeout", "2s",
			"-max-conns-per-ip", "50", "-read-timeout", "5s"},
			want: config{backend: "gnet", addr: "127.0.0.1:9000", loops: 3, logLevel: slog.LevelDebug, shutdownTimeout: 2 * time.Second,
				maxConnsPerIP: 50, readTimeout: 5 * time.Second, natsReplicas: 1}},
		{name: "env", env: map[string]string{"STREAMD_ADDR": ":9999", "STREAMD_LOOPS": "2", "STREAMD_LOG_LEVEL": "warn", "STREAMD_SHUTDOWN_TIMEOUT": "1m",
			"STREAMD_MAX_CONNS_PER_IP": "0", "STREAMD_READ_TIMEOUT": "90s"},
			want: config{backend: "gnet", addr: ":9999", loops: 2, logLevel: slog.LevelWarn, shutdownTimeout: time.Minute,
				maxConnsPerIP: 0, readTimeout: 90 * time.Second, natsReplicas: 1}},
		{name: "flag wins over env", args: []string{"-addr", ":1", "-max-conns-per-ip", "7", "-read-timeout", "1s"},
			env:  map[string]string{"STREAMD_ADDR": ":2", "STREAMD_MAX_CONNS_PER_IP": "8", "STREAMD_READ_TIMEOUT": "2s"},
			want: config{backend: "gnet", addr: ":1", logLevel: slog.LevelInfo, shutdownTimeout: 10 * time.Second, maxConnsPerIP: 7, readTimeout: time.Second, natsReplicas: 1}},
		{name: "nats replicas flag", args: []string{"-nats", "nats://a:4222,nats://b:4222", "-nats-replicas", "3"},
			want: config{backend: "gnet", addr: ":8080", logLevel: slog.LevelInfo, shutdownTimeout: 10 * time.Second, maxConnsPerIP: 1000, readTimeout: 30 * time.Second,
				nats: "nats://a:4222,nats://b:4222", natsReplicas: 3}},
		{name: "nats replicas env", env: map[string]string{"STREAMD_NATS": "nats://a:4222", "STREAMD_NATS_REPLICAS": "5"},
			want: config{backend: "gnet", addr: ":8080", logLevel: slog.LevelInfo, shutdownTimeout: 10 * time.Second, maxConnsPerIP: 1000, readTimeout: 30 * time.Second,
				nats: "nats://a:4222", natsReplicas: 5}},
		{name: "nats replicas flag wins over env", args: []string{"-nats", "nats://a:4222", "-nats-replicas", "1"}, env: map[string]string{"STREAMD_NATS_REPLICAS": "3"},
			want: config{backend: "gnet", addr: ":8080", logLevel: slog.LevelInfo, shutdownTimeout: 10 * time.Second, maxConnsPerIP: 1000, readTimeout: 30 * time.Second,
				nats: "nats://a:4222", natsReplicas: 1}},
		{name: "bad loops", args: []string{"-loops", "zero"}, wantErr: "invalid -loops"},
		{name: "loops out of range", env: map[string]string{"STREAMD_LOOPS": "0"}, wantErr: "invalid -loops"},
		{name: "bad level", args: []string{"-log-level", "loud"}, wantErr: "invalid -log-level"},
		{name: "bad timeout", args: []string{"-shutdown-timeout", "-1s"}, wantErr: "invalid -shutdown-timeout"},
		{name: "negative per-IP cap", args: []string{"-max-conns-per-ip", "-1"}, wantErr: "invalid -max-conns-per-ip"},
		{name: "bad per-IP cap", env: map[string]string{"STREAMD_MAX_CONNS_PER_IP": "lots"}, wantErr: "invalid -max-conns-per-ip"},
		{name: "zero read timeout", args: []string{"-read-timeout", "0s"}, wantErr: "invalid -read-timeout"},
		{name: "bad read timeout", env: map[string]string{"STREAMD_READ_TIMEOUT": "30"}, wantErr: "invalid -read-timeout"},
		{name: "tls", args: []string{"-tls-cert", "c.pem", "-tls-key", "k.pem", "-tls-client-ca", "ca.pem"},
			want: config{backend: "gnet", addr: ":8080", logLevel: slog.LevelInfo, shutdownTimeout: 10 * time.Second, maxConnsPerIP: 1000,
				readTimeout: 30 * time.Second, tlsCert: "c.pem", tlsKey: "k.pem", tlsClientCA: "ca.pem", natsReplicas: 1}},
		{name: "tls from env", env: map[string]string{"STREAMD_TLS_CERT": "c.pem", "STREAMD_TLS_KEY": "k.pem"},
			want: config{backend: "gnet", addr: ":8080", logLevel: slog.LevelInfo, shutdownTimeout: 10 * time.Second, maxConnsPerIP: 1000,
				readTimeout: 30 * time.Second, tlsCert: "c.pem", tlsKey: "k.pem", natsReplicas: 1}},
		{name: "tls cert without key", args: []string{"-tls-cert", "c.pem"}, wantErr: "-tls-cert and -tls-key go together"},
		{name: "tls key without cert", env: map[string]string{"STREAMD_TLS_KEY": "k.pem"}, wantErr: "-tls-cert and -tls-key go together"},
		{name: "client CA without TLS", args: []string{"-tls-client-ca", "ca.pem"}, wantErr: "-tls-client-ca needs -tls-cert"},
		{name: "zero nats replicas", args: []string{"-nats", "nats://a:4222", "-nats-replicas", "0"}, wantErr: "invalid -nats-replicas"},
		{name: "too many nats replicas", env: map[string]string{"STREAMD_NATS": "nats://a:4222", "STREAMD_NATS_REPLICAS": "6"}, wantErr: "invalid -nats-replicas"},
		{name: "bad nats replicas", args: []string{"-nats", "nats://a:4222", "-nats-replicas", "three"}, wantErr: "invalid -nats-replicas"},
		{name: "nats replicas without nats", args: []string{"-nats-replicas", "3"}, wantErr: "-nats-replicas above 1 needs -nats"},
		{name: "nats replicas with store", args: []string{"-store", "/tmp/x", "-nats-replicas", "3"}, wantErr: "-nats-replicas above 1 needs -nats"},
		{name: "nethttp backend", args: []string{"-backend", "nethttp"},
			want: config{backend: "nethttp", addr: ":8080", logLevel: slog.LevelInfo, shutdownTimeout: 10 * time.Second, maxConnsPerIP: 1000,
				readTimeout: 30 * time.Second, natsReplicas: 1}},
		{name: "reuseport", args: []string{"-reuseport", "-addr", ":9001"},
			want: config{backend: "gnet", addr: ":9001", logLevel: slog.LevelInfo, shutdownTimeout: 10 * time.Second, maxConnsPerIP: 1000,
				readTimeout: 30 * time.Second, natsReplicas: 1, reusePort: true}},
		{name: "reuseport from env", env: map[string]string{"STREAMD_REUSEPORT": "true"},
			want: config{backend: "gnet", addr: ":8080", logLevel: slog.LevelInfo, shutdownTimeout: 10 * time.Second, maxConnsPerIP: 1000,
				readTimeout: 30 * time.Second, natsReplicas: 1, reusePort: true}},
		{name: "bad reuseport env", env: map[string]string{"STREAMD_REUSEPORT": "yes please"}, wantErr: "invalid STREAMD_REUSEPORT"},
		{name: "reuseport on net/http", args: []string{"-reuseport", "-backend", "nethttp"}, wantErr: "-reuseport needs the gnet backend"},
		{name: "bad backend", env: map[string]string{"STREAMD_BACKEND": "epoll"}, wantErr: "invalid -backend"},
		{name: "stray argument", args: []string{"serve"}, wantErr: "unexpected arguments"},
		{name: "unknown flag", args: []string{"-port", "1"}, wantErr: "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig(tt.args, env(tt.env), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseConfig(%q) error = %v; want it to contain %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseConfig(%q) error = %v", tt.args, err)
			}
			if tt.want.loops == 0 {
				tt.want.loops = got.loops // the CPU count
				if got.loops < 1 {
					t.Errorf("default loops = %d; want ≥ 1", got.loops)
				}
			}
			if got != tt.want {
				t.Errorf("parseConfig(%q) = %+v; want %+v", tt.args, got, tt.want)
			}
		})
	}
}

func TestEndpoints(t *testing.T) {
	app := startApp(t, 2)
	tests := []struct {
		path      string
		status    int
		ctype     string
		bodyHas   string
		bodyExact string
		chunkedTE bool
	}{
		{path: "/healthz", status: 200, bodyExact: "ok"},
		{path: "/hello", status: 200, ctype: "text/plain; charset=utf-8", bodyExact: "Hello, World!"},
		{path: "/", status: 200, ctype: "text/html; charset=utf-8", bodyHas: `href="/clock"`},
		{path: "/chunked?n=3&interval=0", status: 200, bodyExact: "chunk 0\nchunk 1\nchunk 2\n", chunkedTE: true},
		{path: "/chunked?n=0", status: 200, bodyExact: "", chunkedTE: true},
		{path: "/chunked?n=-1", status: 400, bodyHas: "n must be an integer"},
		{path: "/chunked?n=abc", status: 400, bodyHas: "n must be an integer"},
		{path: "/chunked?interval=soon", status: 400, bodyHas: "interval must be 0"},
		{path: "/chunked?interval=2h", status: 400, bodyHas: "interval must be 0"},
		{path: "/metrics", status: 200, bodyHas: "streamd_requests_total"},
		{path: "/metrics", status: 200, bodyHas: "streamd_accept_errors_total 0"},
		{path: "/metrics", status: 200, bodyHas: `streamd_connections_closed_total{reason="read_timeout"}`},
		{path: "/nope", status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, app.base+tt.path)
			if resp.StatusCode != tt.status {
				t.Fatalf("GET %s status = %d; want %d (body %q)", tt.path, resp.StatusCode, tt.status, body)
			}
			if tt.ctype != "" && resp.Header.Get("Content-Type") != tt.ctype {
				t.Errorf("GET %s Content-Type = %q; want %q", tt.path, resp.Header.Get("Content-Type"), tt.ctype)
			}
			if tt.status == 200 && tt.bodyHas == "" && body != tt.bodyExact {
				t.Errorf("GET %s body = %q; want %q", tt.path, body, tt.bodyExact)
			}
			if tt.bodyHas != "" && !strings.Contains(body, tt.bodyHas) {
				t.Errorf("GET %s body = %q; want it to contain %q", tt.path, body, tt.bodyHas)
			}
			if tt.chunkedTE && (len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked") {
				t.Errorf("GET %s Transfer-Encoding = %v; want [chunked]", tt.path, resp.TransferEncoding)
			}
		})
	}
}

// TestCurl runs the README's endpoints through curl, a client we did not
// write.
func TestCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is required in CI (scripts/test-deps.sh installs it)")
		}
		t.Skip("curl not installed; run scripts/test-deps.sh")
	}
	app := startApp(t, 1)
	curl := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "curl", append([]string{"-sS"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %q: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if got := curl(app.base + "/hello"); got != "Hello, World!" {
		t.Errorf("curl /hello = %q", got)
	}
	if got := curl(app.base + "/healthz"); got != "ok" {
		t.Errorf("curl /healthz = %q", got)
	}
	raw := curl("--raw", app.base+"/chunked?n=2&interval=0")
	if want := "8\r\nchunk 0\n\r\n8\r\nchunk 1\n\r\n0\r\n\r\n"; raw != want {
		t.Errorf("curl --raw /chunked = %q; want %q", raw, want)
	}
	// HTTP/1.0 has no chunked coding: the raw body until close.
	if got := curl("-0", app.base+"/chunked?n=2&interval=0"); got != "chunk 0\nchunk 1\n" {
		t.Errorf("curl -0 /chunked = %q", got)
	}
	head := curl("-I", app.base+"/chunked")
	if !strings.Contains(head, "Transfer-Encoding: chunked") {
		t.Errorf("curl -I /chunked head = %q; want Transfer-Encoding: chunked", head)
	}
	if got := curl("-w", "%{http_code}", "-o", "/dev/null", app.base+"/chunked?n=x"); got != "400" {
		t.Errorf("curl /chunked?n=x status = %s; want 400", got)
	}
}

func TestGracefulShutdownLogged(t *testing.T) {
	app := startApp(t, 2)
	if resp, _ := get(t, app.base+"/healthz"); resp.StatusCode != 200 {
		t.Fatalf("healthz = %d", resp.StatusCode)
	}
	if err := app.stop(); err != nil {
		t.Fatalf("run returned %v after cancel; want nil", err)
	}
	logs := app.logs.String()
	for _, want := range []string{"signal received, shutting down gracefully", "msg=\"shutting down\"", "msg=\"server stopped\""} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}
