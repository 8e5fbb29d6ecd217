package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// sseTimeout bounds every wait of the SSE tests; generous for a loaded
// 2-core machine. (TestMain, with goleak, is in main_test.go.)
const sseTimeout = 30 * time.Second

// sseApp is the demo server started by run, with the app kept for test
// hooks (sseDemos.dropStreams).
type sseApp struct {
	*app
	base string // http://127.0.0.1:PORT
}

func startSSEApp(t *testing.T, loops int) *sseApp {
	t.Helper()
	ta := startApp(t, loops)
	return &sseApp{app: ta.app, base: ta.base}
}

// post sends a form or JSON body and returns the status and body.
func ssePost(t *testing.T, base, path, contentType, body string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: sseTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Post(base+path, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func ssePostChat(t *testing.T, base, msg string) {
	t.Helper()
	status, body := ssePost(t, base, "/chat", "application/x-www-form-urlencoded", url.Values{"message": {msg}}.Encode())
	if status != 204 {
		t.Fatalf("POST /chat %q = %d %q; want 204", msg, status, body)
	}
}

// sseEvent is one dispatched event.
type sseEvent struct{ Type, ID, Data string }

// sseReader is a small event-stream reader over a raw connection (the
// server only emits LF line ends; the sse package tests the full
// grammar).
type sseReader struct {
	t      *testing.T
	conn   net.Conn
	br     *bufio.Reader
	lastID string
	header http.Header
}

func openSSE(t *testing.T, base, path, lastID string) *sseReader {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), sseTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return openSSEOver(t, conn, path, lastID)
}

// openSSEOver opens an event stream on an established connection (plain
// or TLS) and closes the connection when the test ends.
func openSSEOver(t *testing.T, conn net.Conn, path, lastID string) *sseReader {
	t.Helper()
	t.Cleanup(func() { conn.Close() })
	req := "GET " + path + " HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n"
	if lastID != "" {
		req += "Last-Event-ID: " + lastID + "\r\n"
	}
	if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(sseTimeout))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return &sseReader{t: t, conn: conn, br: br, header: resp.Header}
}

// next returns the next event, skipping comments and control frames.
func (r *sseReader) next() sseEvent {
	r.t.Helper()
	var ev sseEvent
	var data []string
	hasData := false
	for {
		_ = r.conn.SetReadDeadline(time.Now().Add(sseTimeout))
		line, err := r.br.ReadString('\n')
		if err != nil {
			r.t.Fatalf("reading event: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if hasData {
				ev.ID = r.lastID
				ev.Data = strings.Join(data, "\n")
				if ev.Type == "" {
					ev.Type = "message"
				}
				return ev
			}
			ev = sseEvent{}
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Type = value
		case "data":
			data = append(data, value)
			hasData = true
		case "id":
			r.lastID = value
		}
	}
}
