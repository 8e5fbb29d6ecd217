package sse

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"data", Event{Data: "hello"}, "data: hello\n\n"},
		{"empty", Event{}, "data: \n\n"},
		{"lf", Event{Data: "a\nb"}, "data: a\ndata: b\n\n"},
		{"cr", Event{Data: "a\rb"}, "data: a\ndata: b\n\n"},
		{"crlf", Event{Data: "a\r\nb"}, "data: a\ndata: b\n\n"},
		{"lfcr", Event{Data: "a\n\rb"}, "data: a\ndata: \ndata: b\n\n"},
		{"trailing lf", Event{Data: "a\n"}, "data: a\ndata: \n\n"},
		{"only lf", Event{Data: "\n"}, "data: \ndata: \n\n"},
		{"leading space kept", Event{Data: " x"}, "data:  x\n\n"},
		{"colon in data", Event{Data: "a: b"}, "data: a: b\n\n"},
		{"event", Event{Event: "tick", Data: "1"}, "event: tick\ndata: 1\n\n"},
		{"event no data", Event{Event: "ping"}, "event: ping\ndata: \n\n"},
		{"id", Event{ID: "42", Data: "x"}, "id: 42\ndata: x\n\n"},
		{"id only", Event{ID: "42"}, "id: 42\n\n"},
		{"retry only", Event{Retry: 2500 * time.Millisecond}, "retry: 2500\n\n"},
		{"retry sub-ms", Event{Retry: time.Microsecond}, "retry: 1\n\n"},
		{"retry negative ignored", Event{Retry: -time.Second, Data: "x"}, "data: x\n\n"},
		{"all", Event{ID: "7", Event: "e", Data: "a\nb", Retry: time.Second}, "event: e\nid: 7\nretry: 1000\ndata: a\ndata: b\n\n"},
		{"unicode", Event{Event: "ünï", ID: "ид", Data: "数据\n☃"}, "event: ünï\nid: ид\ndata: 数据\ndata: ☃\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendEvent([]byte("prefix|"), &tt.ev)
			if err != nil || string(got) != "prefix|"+tt.want {
				t.Errorf("AppendEvent(%+v) = %q, %v; want %q", tt.ev, got, err, "prefix|"+tt.want)
			}
		})
	}
}

func TestAppendEventInvalid(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want error
	}{
		{"id lf", Event{ID: "1\n2"}, ErrInvalidID},
		{"id cr", Event{ID: "1\r"}, ErrInvalidID},
		{"id nul", Event{ID: "a\x00b", Data: "x"}, ErrInvalidID},
		{"event lf", Event{Event: "a\nb"}, ErrInvalidEventName},
		{"event cr", Event{Event: "a\r", Data: "x"}, ErrInvalidEventName},
		{"event crlf", Event{Event: "x\r\ndata: injected"}, ErrInvalidEventName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := AppendEvent(dst, &tt.ev)
			if !errors.Is(err, tt.want) || string(got) != "keep" {
				t.Errorf("AppendEvent(%+v) = %q, %v; want %q, %v", tt.ev, got, err, "keep", tt.want)
			}
		})
	}
}

func TestAppendComment(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ":\n\n"},
		{"hi", ": hi\n\n"},
		{"a\nb", ": a\n: b\n\n"},
		{"a\r\nb\rc", ": a\n: b\n: c\n\n"},
	}
	for _, tt := range tests {
		if got := string(AppendComment(nil, tt.in)); got != tt.want {
			t.Errorf("AppendComment(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// feedSplits feeds b to a fresh parser whole, byte by byte and in random
// splits, checks the three agree, and returns the whole-feed parser.
func feedSplits(t testing.TB, b []byte, rng *rand.Rand) *specParser {
	t.Helper()
	whole := newSpecParser()
	whole.feed(b)
	bytewise := newSpecParser()
	for i := range b {
		bytewise.feed(b[i : i+1])
	}
	random := newSpecParser()
	for rest := b; len(rest) > 0; {
		n := 1 + rng.IntN(len(rest))
		random.feed(rest[:n])
		rest = rest[n:]
	}
	for _, p := range []*specParser{bytewise, random} {
		if !sameEvents(whole.events, p.events) || whole.lastID != p.lastID || whole.retry != p.retry {
			t.Fatalf("split parse of %q = %+v; whole parse = %+v", b, p.events, whole.events)
		}
	}
	return whole
}

func sameEvents(a, b []specEvent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 124, 125, 126, 127, 65535, 65536, 65537}
	var stream []byte
	var want []specEvent
	for i, n := range sizes {
		data := strings.Repeat("x", n)
		if n > 10 {
			// line breaks of every kind, one landing at the very end
			b := []byte(data)
			b[n/3], b[n/2] = '\n', '\r'
			b[n-1] = '\n'
			data = string(b)
		}
		ev := Event{ID: "id-" + strings.Repeat("i", i), Event: []string{"", "e"}[i%2], Data: data}
		var err error
		if stream, err = AppendEvent(stream, &ev); err != nil {
			t.Fatalf("AppendEvent(size %d): %v", n, err)
		}
		if ev.Event == "" && ev.Data == "" {
			continue // an id-only frame: nothing to dispatch
		}
		typ := ev.Event
		if typ == "" {
			typ = "message"
		}
		want = append(want, specEvent{Type: typ, Data: normalizeNewlines(data), LastID: ev.ID})
	}
	stream = AppendComment(stream, "keep-alive")
	stream, _ = AppendEvent(stream, &Event{ID: "last"})
	stream, _ = AppendEvent(stream, &Event{Retry: 3 * time.Second})
	p := feedSplits(t, stream, rng)
	if !sameEvents(p.events, want) {
		t.Fatalf("round trip: got %d events, want %d", len(p.events), len(want))
	}
	if p.lastID != "last" || p.retry != 3000 || len(p.comments) != 1 || p.comments[0] != " keep-alive" {
		t.Errorf("after control frames: lastID %q retry %d comments %q; want \"last\", 3000, [\" keep-alive\"]", p.lastID, p.retry, p.comments)
	}
	if len(p.oddLines) > 0 || p.pending() {
		t.Errorf("malformed stream: odd lines %q, pending %v", p.oddLines, p.pending())
	}
}

// FuzzSSEEncode checks that AppendEvent either refuses the fields or
// produces exactly one well-formed frame that a spec parser decodes back
// to the same fields.
func FuzzSSEEncode(f *testing.F) {
	f.Add("", "", "hello", int64(0))
	f.Add("1", "chat", "line1\nline2", int64(0))
	f.Add("abc", "", "a\r\nb\rc\n", int64(1500))
	f.Add("", "", "", int64(0))
	f.Add("only-id", "", "", int64(0))
	f.Add("", "", "", int64(2000))
	f.Add("x\ny", "", "data", int64(0))
	f.Add("nul\x00", "", "data", int64(0))
	f.Add("", "e\rv", "data", int64(0))
	f.Add(" lead", " space", " data: x\n:comment\n\nid: 9", int64(-5))
	f.Add("\ufeffbom", "\ufeff", "\ufeff", int64(1))
	f.Fuzz(func(t *testing.T, id, event, data string, retryMS int64) {
		ev := Event{ID: id, Event: event, Data: data, Retry: time.Duration(retryMS) * time.Millisecond}
		out, err := AppendEvent(nil, &ev)
		badID := strings.ContainsAny(id, "\r\n\x00")
		badEvent := strings.ContainsAny(event, "\r\n")
		switch {
		case badID:
			if !errors.Is(err, ErrInvalidID) || len(out) != 0 {
				t.Fatalf("AppendEvent(%+v) = %q, %v; want ErrInvalidID", ev, out, err)
			}
			return
		case badEvent:
			if !errors.Is(err, ErrInvalidEventName) || len(out) != 0 {
				t.Fatalf("AppendEvent(%+v) = %q, %v; want ErrInvalidEventName", ev, out, err)
			}
			return
		case err != nil:
			t.Fatalf("AppendEvent(%+v) = %v; want no error", ev, err)
		}
		if !strings.HasSuffix(string(out), "\n\n") {
			t.Fatalf("frame %q does not end with a blank line", out)
		}
		// Exactly one frame: the only blank line is the final one.
		if i := strings.Index(string(out), "\n\n"); i != len(out)-2 {
			t.Fatalf("frame %q has a blank line at %d before its end", out, i)
		}
		p := newSpecParser()
		p.feed(out)
		if len(p.oddLines) > 0 || p.pending() {
			t.Fatalf("frame %q: odd lines %q, pending %v", out, p.oddLines, p.pending())
		}
		if p.lastID != id {
			t.Fatalf("frame %q: last event id %q; want %q", out, p.lastID, id)
		}
		wantRetry := -1
		if ev.Retry > 0 {
			wantRetry = int(max(ev.Retry.Milliseconds(), 1))
		}
		if p.retry != wantRetry {
			t.Fatalf("frame %q: retry %d; want %d", out, p.retry, wantRetry)
		}
		controlOnly := event == "" && data == "" && (id != "" || ev.Retry > 0)
		if controlOnly {
			if len(p.events) != 0 {
				t.Fatalf("control frame %q dispatched %+v", out, p.events)
			}
			return
		}
		typ := event
		if typ == "" {
			typ = "message"
		}
		want := specEvent{Type: typ, Data: normalizeNewlines(data), LastID: id}
		if len(p.events) != 1 || p.events[0] != want {
			t.Fatalf("frame %q decoded to %+v; want [%+v]", out, p.events, want)
		}
		// The hub codec path (bytes) must agree with the string path.
		if b := appendFrame(nil, id, event, "", []byte(data), ev.Retry); string(b) != string(out) {
			t.Fatalf("appendFrame(bytes) = %q; string path = %q", b, out)
		}
	})
}

func BenchmarkAppendEvent(b *testing.B) {
	cases := []struct {
		name string
		ev   Event
	}{
		{"small", Event{ID: "12345", Event: "chat", Data: "hello, world"}},
		{"multiline", Event{ID: "12345", Data: strings.Repeat("a line of text\n", 16)}},
		{"4KiB", Event{ID: "12345", Data: strings.Repeat("x", 4096)}},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.ev.Data)))
			dst := make([]byte, 0, 8192)
			for b.Loop() {
				var err error
				if dst, err = AppendEvent(dst[:0], &bc.ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendComment(b *testing.B) {
	b.ReportAllocs()
	dst := make([]byte, 0, 64)
	for b.Loop() {
		dst = AppendComment(dst[:0], "keep-alive")
	}
}
