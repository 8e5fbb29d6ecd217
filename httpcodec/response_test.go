package httpcodec

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
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
		name string
		h    ResponseHead
		body string
	}{
		{"200 keep-alive", ResponseHead{Status: 200, ContentType: "text/plain", KeepAlive: true}, "Hello, World!"},
		{"404 close", ResponseHead{Status: 404}, ""},
		{"500 json", ResponseHead{Status: 500, ContentType: "application/json", KeepAlive: true}, `{"err":1}`},
		{"204 drops body", ResponseHead{Status: 204, KeepAlive: true}, "ignored"},
		{"304 drops body", ResponseHead{Status: 304, ContentType: "text/plain"}, "ignored"},
		{"101 no length", ResponseHead{Status: 101, KeepAlive: true}, ""},
		{"HEAD keeps length", ResponseHead{Status: 200, ContentType: "text/plain", KeepAlive: true, HeadRequest: true}, "not sent"},
		{"HTTP/1.0 keep-alive", ResponseHead{Status: 200, KeepAlive: true, HTTP10: true}, "hi"},
		{"HTTP/1.0 close", ResponseHead{Status: 200, HTTP10: true}, "hi"},
		{"extra headers", ResponseHead{Status: 201, KeepAlive: true, Header: []byte("X-A: 1\r\nX-B: 2\r\n")}, "made"},
		{"big body", ResponseHead{Status: 200, KeepAlive: true}, strings.Repeat("b", 12345)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.h
			raw := AppendResponse([]byte("x"), &h, []byte(tt.body))
			if raw[0] != 'x' {
				t.Fatalf("AppendResponse overwrote dst: %q", raw)
			}
			raw = raw[1:]
			req := &http.Request{Method: "GET", ProtoMajor: 1, ProtoMinor: 1}
			if h.HeadRequest {
				req.Method = "HEAD"
			}
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), req)
			if err != nil {
				t.Fatalf("http.ReadResponse(%q) = %v", raw, err)
			}
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading body of %q: %v", raw, err)
			}
			wantBody, wantLength := tt.body, strconv.Itoa(len(tt.body))
			if !h.HasContent() {
				wantBody = ""
			}
			if !bodyAllowed(h.Status) {
				wantLength = ""
			}
			wantConn := "" // net/http takes "close" out of the header, into resp.Close
			if h.KeepAlive && h.HTTP10 {
				wantConn = "keep-alive"
			}
			if resp.StatusCode != h.Status || string(got) != wantBody ||
				resp.Header.Get("Content-Type") != h.ContentType ||
				resp.Header.Get("Content-Length") != wantLength ||
				resp.Header.Get("Connection") != wantConn || resp.Close == h.KeepAlive ||
				resp.Header.Get("Server") != "streamd" {
				t.Errorf("AppendResponse(%+v, %q) = %q; parsed status %d, body %q, header %v",
					h, tt.body, raw, resp.StatusCode, got, resp.Header)
			}
			if !bytes.HasSuffix(raw, []byte("\r\n\r\n"+wantBody)) {
				t.Errorf("AppendResponse(%+v, %q) = %q; want it to end with the blank line and %q", h, tt.body, raw, wantBody)
			}
			if len(h.Header) > 0 && !bytes.Contains(raw, h.Header) {
				t.Errorf("AppendResponse(%+v) = %q; want the extra header lines as they are", h, raw)
			}
			if _, err := http.ParseTime(resp.Header.Get("Date")); err != nil {
				t.Errorf("Date %q: %v", resp.Header.Get("Date"), err)
			}
		})
	}
}

// TestAppendResponseHead pins the order of the head's lines.
func TestAppendResponseHead(t *testing.T) {
	date := string(AppendDate(nil))
	for _, tt := range []struct {
		h      ResponseHead
		length int
		want   string
	}{
		{ResponseHead{Status: 200, ContentType: "text/plain", KeepAlive: true}, 13,
			"HTTP/1.1 200 OK\r\nServer: streamd\r\n" + date + "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\n"},
		{ResponseHead{Status: 404, Header: []byte("X-A: 1\r\n")}, 0,
			"HTTP/1.1 404 Not Found\r\nServer: streamd\r\n" + date + "Content-Length: 0\r\nConnection: close\r\nX-A: 1\r\n\r\n"},
		{ResponseHead{Status: 200, KeepAlive: true, HTTP10: true, Header: []byte("X-A: 1\r\n")}, 1000,
			"HTTP/1.1 200 OK\r\nServer: streamd\r\n" + date + "Content-Length: 1000\r\nX-A: 1\r\nConnection: keep-alive\r\n\r\n"},
		{ResponseHead{Status: 304, ContentType: "text/html", KeepAlive: true}, 5,
			"HTTP/1.1 304 Not Modified\r\nServer: streamd\r\n" + date + "Content-Type: text/html\r\n\r\n"},
		// CR and LF in the content type cannot start a line of their own.
		{ResponseHead{Status: 200, ContentType: "text/plain\r\nSet-Cookie: a=b", KeepAlive: true}, 0,
			"HTTP/1.1 200 OK\r\nServer: streamd\r\n" + date + "Content-Type: text/plain  Set-Cookie: a=b\r\nContent-Length: 0\r\n\r\n"},
	} {
		if got := string(AppendResponseHead(nil, &tt.h, tt.length)); got != tt.want {
			t.Errorf("AppendResponseHead(%+v, %d) = %q; want %q", tt.h, tt.length, got, tt.want)
		}
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

func TestHasControl(t *testing.T) {
	slow := func(b []byte) bool {
		for _, c := range b {
			if c < ' ' {
				return true
			}
		}
		return false
	}
	for n := 0; n <= 24; n++ {
		for _, c := range []byte{0x00, '\t', '\n', '\r', 0x1f, ' ', 'a', 0x7f, 0x80, 0xff} {
			for at := 0; at < max(n, 1); at++ {
				b := bytes.Repeat([]byte{'x'}, n)
				if n > 0 {
					b[at] = c
				}
				if got, want := hasControl(b), slow(b); got != want {
					t.Errorf("hasControl(%q) = %v; want %v", b, got, want)
				}
			}
		}
	}
}
