package loop

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamd/streamd/httpcodec"
)

// ticker3 is a stream that writes "tick N\n" three times, 10 ms apart,
// then ends.
type ticker3 struct{ n int }

func (m *ticker3) OnData(_ *Conn, in []byte) (int, error) { return len(in), nil }
func (m *ticker3) OnTimer(c *Conn) {
	m.n++
	c.Write([]byte("tick " + strconv.Itoa(m.n) + "\n"))
	if m.n == 3 {
		c.CloseAfterFlush()
		return
	}
	c.SetTimer(10 * time.Millisecond)
}
func (m *ticker3) OnDrain(*Conn)        {}
func (m *ticker3) OnShutdown(c *Conn)   { c.Close() }
func (m *ticker3) OnClose(*Conn, error) {}

// startHTTPBackend serves routes through Server.HTTPHandler in an
// httptest server (HTTP/1.1, or HTTP/2 over TLS when h2 is set).
func startHTTPBackend(t *testing.T, cfg Config, routes func(*Server), h2 bool) (*Server, *httptest.Server) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	s := New(cfg)
	routes(s)
	h := s.HTTPHandler()
	hs := httptest.NewUnstartedServer(h)
	if h2 {
		hs.EnableHTTP2 = true
		hs.StartTLS()
	} else {
		hs.Start()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		hs.Close()
	})
	return s, hs
}

func TestHTTPBackend(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[h2], func(t *testing.T) {
			_, hs := startHTTPBackend(t, Config{Loops: 2}, func(s *Server) {
				tlsRoutes(s)
				s.GET("/ticks", func(c *Ctx) {
					c.WriteStreamHead(200, "Content-Type: text/plain\r\n")
					c.TakeOver(&ticker3{}).SetTimer(10 * time.Millisecond)
				})
			}, h2)
			client := hs.Client()
			do := func(method, path, body string) (*http.Response, string) {
				t.Helper()
				req, _ := http.NewRequest(method, hs.URL+path, strings.NewReader(body))
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatalf("%s %s: body: %v", method, path, err)
				}
				if want := map[bool]int{false: 1, true: 2}[h2]; resp.ProtoMajor != want {
					t.Errorf("%s %s over HTTP/%d; want HTTP/%d", method, path, resp.ProtoMajor, want)
				}
				return resp, string(b)
			}
			if resp, body := do("GET", "/hello", ""); resp.StatusCode != 200 || body != "hello" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("GET /hello: %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Type"))
			}
			if resp, body := do("HEAD", "/hello", ""); resp.StatusCode != 200 || body != "" || resp.ContentLength != 5 {
				t.Errorf("HEAD /hello: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
			}
			if _, body := do("POST", "/len", strings.Repeat("x", 100000)); body != "100000" {
				t.Errorf("POST /len: %q", body)
			}
			if resp, _ := do("GET", "/nowhere", ""); resp.StatusCode != 404 {
				t.Errorf("GET /nowhere: %d", resp.StatusCode)
			}
			if _, body := do("GET", "/big?n=3000000", ""); body != string(pattern(3000000)) {
				t.Errorf("GET /big: %d bytes, not the pattern", len(body))
			}
			if _, body := do("GET", "/ticks", ""); body != "tick 1\ntick 2\ntick 3\n" {
				t.Errorf("GET /ticks: %q", body)
			}
			want := "plain"
			if h2 {
				want = "TLS 1.3 h2"
			}
			if _, body := do("GET", "/whoami", ""); body != want {
				t.Errorf("Ctx.TLS: %q; want %q", body, want)
			}
		})
	}
}

// TestHTTPBackendInputBudget: a request body the server-wide input budget
// (Config.MaxBufferedInput) cannot hold gets 503 on the net/http backend
// too, before it is read; smaller ones go through, and the budget is all
// given back.
func TestHTTPBackendInputBudget(t *testing.T) {
	s, hs := startHTTPBackend(t, Config{Loops: 1, MaxBufferedInput: 64 << 10}, tlsRoutes, false)
	client := hs.Client()
	post := func(n int) (int, string) {
		t.Helper()
		resp, err := client.Post(hs.URL+"/len", "application/octet-stream", strings.NewReader(strings.Repeat("x", n)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := post(200 << 10); st != 503 {
		t.Errorf("a 200 KiB body with a 64 KiB budget: %d %q; want 503", st, body)
	}
	if st, body := post(10 << 10); st != 200 || body != "10240" {
		t.Errorf("a 10 KiB body: %d %q", st, body)
	}
	waitFor(t, "the budget given back", func() bool { return s.Stats().BufferedInput == 0 })
}

// TestHTTPBackendBodyLimit: a body over Limits.MaxBodyBytes gets 413 on the
// net/http backend, as on the loops, whether its length is announced or
// not.
func TestHTTPBackendBodyLimit(t *testing.T) {
	_, hs := startHTTPBackend(t, Config{Loops: 1, Limits: httpcodec.Limits{MaxBodyBytes: 100 << 10}}, tlsRoutes, false)
	client := hs.Client()
	for _, announced := range []bool{true, false} {
		var body io.Reader = strings.NewReader(strings.Repeat("x", 200<<10))
		if !announced {
			body = io.MultiReader(body) // no length: sent chunked
		}
		resp, err := client.Post(hs.URL+"/len", "application/octet-stream", body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("a 200 KiB body over a 100 KiB limit (length announced: %v): %d; want 413", announced, resp.StatusCode)
		}
	}
}
