package sse

import (
	"bytes"
	"strconv"
	"strings"
)

// specEvent is one event as an EventSource client dispatches it.
type specEvent struct {
	Type, Data, LastID string
}

// specParser is a test-only event-stream parser written straight from
// WHATWG HTML §9.2.6 ("Interpreting an event stream"). It is push-style
// and resumable at any byte, so tests feed it whole, byte by byte and in
// random splits. Beyond the spec it records what a conformant stream from
// our encoder never contains (unknown fields, lines without a colon), so
// the fuzz target can check "never a malformed frame".
type specParser struct {
	line   []byte
	skipLF bool // the previous chunk ended in CR: a leading LF belongs to it

	data      []byte
	hasData   bool
	eventType string
	lastID    string // the last event ID buffer
	retry     int    // -1 until set

	events   []specEvent
	comments []string
	retries  []int
	oddLines []string // lines no field of ours produces
	fields   int      // field lines since the last dispatch
}

func newSpecParser() *specParser { return &specParser{retry: -1} }

// feed consumes b.
func (p *specParser) feed(b []byte) {
	for len(b) > 0 {
		if p.skipLF {
			p.skipLF = false
			if b[0] == '\n' {
				b = b[1:]
				continue
			}
		}
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			p.line = append(p.line, b...)
			return
		}
		p.line = append(p.line, b[:i]...)
		if b[i] == '\r' {
			if i+1 < len(b) {
				if b[i+1] == '\n' {
					i++
				}
			} else {
				p.skipLF = true
			}
		}
		b = b[i+1:]
		p.processLine(p.line)
		p.line = p.line[:0]
	}
}

func (p *specParser) processLine(line []byte) {
	if len(line) == 0 {
		p.dispatch()
		return
	}
	if line[0] == ':' {
		p.comments = append(p.comments, string(line[1:]))
		return
	}
	var field, value string
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = string(line[:i]), string(line[i+1:])
		value = strings.TrimPrefix(value, " ")
	} else {
		field = string(line)
		p.oddLines = append(p.oddLines, field)
	}
	p.fields++
	switch field {
	case "event":
		p.eventType = value
	case "data":
		p.data = append(p.data, value...)
		p.data = append(p.data, '\n')
		p.hasData = true
	case "id":
		if !strings.ContainsRune(value, 0) {
			p.lastID = value
		}
	case "retry":
		if n, err := strconv.Atoi(value); err == nil && value != "" && strings.Trim(value, "0123456789") == "" {
			p.retry = n
			p.retries = append(p.retries, n)
		} else {
			p.oddLines = append(p.oddLines, string(line))
		}
	default:
		p.oddLines = append(p.oddLines, string(line))
	}
}

func (p *specParser) dispatch() {
	p.fields = 0
	if len(p.data) == 0 {
		p.eventType = ""
		return
	}
	data := p.data[:len(p.data)-1]
	typ := p.eventType
	if typ == "" {
		typ = "message"
	}
	p.events = append(p.events, specEvent{Type: typ, Data: string(data), LastID: p.lastID})
	p.data = p.data[:0]
	p.hasData = false
	p.eventType = ""
}

// pending reports whether part of a frame is still waiting for its blank
// line.
func (p *specParser) pending() bool {
	return len(p.line) > 0 || p.fields > 0
}

// normalizeNewlines turns CRLF and CR into LF, as a client joining data
// lines sees them.
func normalizeNewlines(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}
