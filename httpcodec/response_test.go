package httpcodec

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStatusText(t *testing.T) {
	for code := 0; code < 1000; code++ {
		if got, want := StatusText(code), http.StatusText(code); got != want {
			t.Errorf("StatusText(%d) = %q; want %q", code, got, want)
		}
	}
}

func TestAppendStatusLine(t *testing.T) {
	for _, tt := range []struct {
		code int
		want string
	}{
		{200, "HTTP/1.1 200 OK\r\n"},
		{101, "HTTP/1.1 101 Switching Protocols\r\n"},
		{404, "HTTP/1.1 404 Not Found\r\n"},
		{431, "HTTP/1.1 431 Request Header Fields Too Large\r\n"},
		{599, "HTTP/1.1 599 status code 599\r\n"},
		{999, "HTTP/1.1 999 status code 999\r\n"},
	} {
		if got := string(AppendStatusLine([]byte("x"), tt.code)); got != "x"+tt.want {
			t.Errorf("AppendStatusLine(%d) = %q; want %q", tt.code, got, "x"+tt.want)
		}
	}
	for _, code := range []int{-1, 0, 99, 1000} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("AppendStatusLine(%d) did not panic", code)
				}
			}()
			AppendStatusLine(nil, code)
		}()
	}
}

func TestAppendHeader(t *testing.T) {
	for _, tt := range []struct {
		name, value, want string
	}{
		{"Content-Type", "text/plain", "Content-Type: text/plain\r\n"},
		{"X-Empty", "", "X-Empty: \r\n"},
		{"X-Inject", "a\r\nSet-Cookie: x=1", "X-Inject: a  Set-Cookie: x=1\r\n"},
		{"X-LF", "a\nb", "X-LF: a b\r\n"},
		{"Bad Name", "v", ""},
		{"Bad\r\nName", "v", ""},
		{"", "v", ""},
	} {
		if got := string(AppendHeader(nil, tt.name, tt.value)); got != tt.want {
			t.Errorf("AppendHeader(%q, %q) = %q; want %q", tt.name, tt.value, got, tt.want)
		}
	}
}

func TestValidHeader(t *testing.T) {
	for _, tt := range []struct {
		s           string
		name, value bool
	}{
		{"Content-Type", true, true},
		{"", false, true},
		{"a b", false, true},
		{"a:b", false, true},
		{"caf\xc3\xa9", false, true},
		{"a\tb", false, true},
		{"a\rb", false, false},
		{"a\nb", false, false},
		{"a\x00b", false, false},
		{"a\x7fb", false, false},
	} {
		if got := ValidHeaderName(tt.s); got != tt.name {
			t.Errorf("ValidHeaderName(%q) = %v; want %v", tt.s, got, tt.name)
		}
		if got := ValidHeaderValue(tt.s); got != tt.value {
			t.Errorf("ValidHeaderValue(%q) = %v; want %v", tt.s, got, tt.value)
		}
	}
}

func TestAppendDate(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 34, 56, 0, time.FixedZone("X", 3600))
	RefreshDate(now)
	defer RefreshDate(time.Now())
	want := "Date: Sun, 01 Mar 2026 11:34:56 GMT\r\n"
	if got := string(AppendDate(nil)); got != want {
		t.Errorf("AppendDate() = %q; want %q", got, want)
	}
	if _, err := http.ParseTime(want[6 : len(want)-2]); err != nil {
		t.Errorf("http.ParseTime(%q) = %v", want[6:len(want)-2], err)
	}
}

// TestDateConcurrent runs readers and a refresher together; -race checks it.
func TestDateConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for j := 0; j < 1000; j++ {
				buf = AppendDate(buf[:0])
				if len(buf) != 37 {
					t.Errorf("AppendDate() = %q; want 37 bytes", buf)
					return
				}
			}
		}()
	}
	for j := 0; j < 100; j++ {
		RefreshDate(time.Now())
	}
	wg.Wait()
}

func readResponse(t *testing.T, raw []byte) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatalf("http.ReadResponse(%q) = %v", raw, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body of %q: %v", raw, err)
	}
	return resp, string(body)
}

func TestAppendResponse(t *testing.T) {
	for _, tt := range []struct {
		name        string
		status      int
		contentType string
		body        string
		keepAlive   bool
	}{
		{"200 keep-alive", 200, "text/plain", "Hello, World!", true},
		{"404 close", 404, "", "", false},
		{"500 json", 500, "application/json", `{"err":1}`, true},
		{"204 drops body", 204, "", "ignored", true},
		{"304 drops body", 304, "", "ignored", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw := AppendResponse(nil, tt.status, tt.contentType, []byte(tt.body), tt.keepAlive)
			resp, body := readResponse(t, raw)
			wantBody := tt.body
			if !bodyAllowed(tt.status) {
				wantBody = ""
				if bytes.Contains(raw, []byte("Content-Length")) {
					t.Errorf("AppendResponse(%d) = %q; want no Content-Length", tt.status, raw)
				}
			}
			if resp.StatusCode != tt.status || body != wantBody ||
				resp.Header.Get("Content-Type") != tt.contentType ||
				resp.Header.Get("Server") != "streamd" || resp.Close == tt.keepAlive {
				t.Errorf("AppendResponse(%d, %q, %q, %v) = %q; parsed status %d, body %q, close %v",
					tt.status, tt.contentType, tt.body, tt.keepAlive, raw, resp.StatusCode, body, resp.Close)
			}
			if _, err := http.ParseTime(resp.Header.Get("Date")); err != nil {
				t.Errorf("Date %q: %v", resp.Header.Get("Date"), err)
			}
		})
	}
}

func TestAppendError(t *testing.T) {
	for _, pe := range []*ProtocolError{ErrMalformed, ErrURITooLong, ErrHeaderTooLarge, ErrBodyTooLarge,
		ErrVersionNotSupported, ErrTransferCodingNotImplemented, ErrExpectationFailed, ErrMissingHost,
		ErrSmuggling, ErrBadContentLength, ErrBadChunk} {
		raw := AppendError(nil, pe)
		resp, body := readResponse(t, raw)
		if resp.StatusCode != pe.Status || body != pe.Reason+"\n" || !resp.Close ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("AppendError(%v) = %q; parsed status %d, body %q, close %v", pe, raw, resp.StatusCode, body, resp.Close)
		}
	}
}
