// Package testsrv starts loop servers for the tests of the protocol
// packages (sse, ws, chunked) and the command: on 127.0.0.1:0, stopped
// and waited for when the test ends. The loop package's own tests keep
// their copy, since they cannot import a package that imports loop.
package testsrv

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/streamd/streamd/internal/testcert"
	"github.com/streamd/streamd/loop"
)

// Timeout bounds every wait in the tests: generous, so a loaded 2-core
// machine under -race never turns a slow step into a failure.
const Timeout = 20 * time.Second

// GoleakOptions are the goroutines goleak must not count: gnet's ants
// pool starts two at package init and keeps them for the process, and
// net/http client connections end asynchronously after
// CloseIdleConnections.
func GoleakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	}
}

// Logger discards logs unless STREAMD_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("STREAMD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// Server is a loop.Server started by Start.
type Server struct {
	*loop.Server
	// HostPort is the listening address, "127.0.0.1:PORT".
	HostPort string

	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// Cancel starts the graceful shutdown without waiting for it.
func (s *Server) Cancel() { s.cancel() }

// Stop cancels Serve and returns what it returned; later calls return
// the same. It gives up after three Timeouts.
func (s *Server) Stop() error {
	s.once.Do(func() {
		s.cancel()
		select {
		case s.err = <-s.done:
		case <-time.After(3 * Timeout):
			s.err = errors.New("testsrv: Serve did not return")
		}
	})
	return s.err
}

// Backend names the backend Start serves with, from the environment
// variable STREAMD_TEST_BACKEND: "gnet" (the default: Serve on the event
// loops) or "nethttp" (Server.HTTPHandler inside a net/http server, from
// net/http/httptest). make test runs the protocol packages' tests with
// each.
func Backend() string {
	if b := os.Getenv("STREAMD_TEST_BACKEND"); b != "" {
		return b
	}
	return "gnet"
}

// GnetOnly skips a test on the net/http backend: what it checks is one of
// the differences loop's nethttp.go lists (why says which).
func GnetOnly(t testing.TB, why string) {
	t.Helper()
	if Backend() == "nethttp" {
		t.Skip("gnet backend only: " + why)
	}
}

var hostPorts sync.Map // *loop.Server → "127.0.0.1:PORT"

// HostPortOf returns the address Start serves srv on.
func HostPortOf(srv *loop.Server) string {
	hp, _ := hostPorts.Load(srv)
	s, _ := hp.(string)
	return s
}

// Start serves routes on 127.0.0.1:0 until the test ends, then stops the
// server and checks that Serve returned nil. It uses the backend Backend
// names.
func Start(t testing.TB, cfg loop.Config, routes func(*loop.Server)) *Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = Logger()
	}
	srv := loop.New(cfg)
	if routes != nil {
		routes(srv)
	}
	switch b := Backend(); b {
	case "nethttp":
		return startHTTP(t, srv)
	case "gnet":
	default:
		t.Fatalf("STREAMD_TEST_BACKEND=%q: want gnet or nethttp", b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Server: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-s.done:
		cancel()
		t.Fatalf("Serve: %v", err)
	case <-time.After(Timeout):
		cancel()
		t.Fatal("server not ready")
	}
	s.HostPort = srv.Addr().String()
	hostPorts.Store(srv, s.HostPort)
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("Serve returned %v", err)
		}
	})
	return s
}

var (
	certOnce sync.Once
	cert     *testcert.Cert
)

// Cert returns the process's test certificate (made on first use): the
// one Transport "tls" serves and trusts.
func Cert() *testcert.Cert {
	certOnce.Do(func() { cert = testcert.New() })
	return cert
}

// Transport is how a test reaches its server: plain TCP, or TLS on the
// loop (loop.Config.TLS) with Cert, so the protocol tests can run the same
// body over both.
type Transport struct {
	Name string // "tcp" or "tls", for subtest names
	TLS  bool
}

// Transports are plain TCP and TLS, in that order.
var Transports = []Transport{{Name: "tcp"}, {Name: "tls", TLS: true}}

// TransportOf returns the transport srv serves.
func TransportOf(srv *loop.Server) Transport {
	if srv.Config().TLS != nil {
		return Transports[1]
	}
	return Transports[0]
}

// Config returns cfg serving this transport: with TLS, Cert's server
// configuration.
func (tr Transport) Config(cfg loop.Config) loop.Config {
	if tr.TLS {
		cfg.TLS = Cert().Server()
	}
	return cfg
}

// ClientTLS returns a client TLS configuration trusting Cert, or nil for
// plain TCP.
func (tr Transport) ClientTLS() *tls.Config {
	if !tr.TLS {
		return nil
	}
	return Cert().Client()
}

// Scheme returns the URL scheme of plain ("http" or "ws") on this
// transport: "https" or "wss" with TLS.
func (tr Transport) Scheme(plain string) string {
	if tr.TLS {
		return plain + "s"
	}
	return plain
}

// Dial connects to addr with d (a zero Dialer with Timeout when nil);
// with TLS the handshake is done when it returns.
func (tr Transport) Dial(d *net.Dialer, addr string) (net.Conn, error) {
	if d == nil {
		d = &net.Dialer{Timeout: Timeout}
	}
	if tr.TLS {
		return tls.DialWithDialer(d, "tcp", addr, tr.ClientTLS())
	}
	return d.Dial("tcp", addr)
}

// startHTTP serves srv's routes with its net/http backend in an httptest
// server (HTTP/1.1). Stop shuts the backend down gracefully, then the
// net/http server.
func startHTTP(t testing.TB, srv *loop.Server) *Server {
	h := srv.HTTPHandler()
	hs := httptest.NewUnstartedServer(h)
	if conf := srv.Config().TLS; conf != nil {
		hs.TLS = conf.Clone() // net/http's TLS, with the same certificate
		hs.StartTLS()
	} else {
		hs.Start()
	}
	s := &Server{Server: srv, HostPort: hs.Listener.Addr().String(), done: make(chan error, 1)}
	hostPorts.Store(srv, s.HostPort)
	var once sync.Once
	shutdown := func() {
		once.Do(func() {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 3*Timeout)
				defer cancel()
				err := h.Shutdown(ctx)
				hs.Close()
				s.done <- err
			}()
		})
	}
	s.cancel = shutdown
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("HTTPHandler.Shutdown returned %v", err)
		}
	})
	return s
}
