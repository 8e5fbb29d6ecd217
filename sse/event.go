package sse

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// Event is one server-sent event. Zero fields are left out of the frame.
type Event struct {
	// ID sets the client's last event id (sent back as Last-Event-ID on
	// reconnect). It must not contain CR, LF or NUL.
	ID string
	// Event is the event type; "" dispatches a "message" event. It must not
	// contain CR or LF.
	Event string
	// Data is the payload; CR, LF and CRLF split it into several data:
	// lines, which the client joins back with LF.
	Data string
	// Retry, if positive, sets the client's reconnection delay
	// (milliseconds on the wire).
	Retry time.Duration
}

// AppendEvent appends the wire form of ev to dst (WHATWG HTML, "Server-sent
// events", §9.2.6): it never emits a malformed frame, so an invalid ID or
// event name is an error and dst is returned unchanged.
func AppendEvent(dst []byte, ev *Event) ([]byte, error) {
	if !validID(ev.ID) {
		return dst, ErrInvalidID
	}
	if !validEventName(ev.Event) {
		return dst, ErrInvalidEventName
	}
	return appendFrame(dst, ev.ID, ev.Event, ev.Data, nil, ev.Retry), nil
}

// appendFrame writes a frame whose id and event name are already valid.
// The data comes from sdata or bdata (one of them is used).
func appendFrame(dst []byte, id, event, sdata string, bdata []byte, retry time.Duration) []byte {
	if event != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, event...)
		dst = append(dst, '\n')
	}
	if id != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, id...)
		dst = append(dst, '\n')
	}
	if retry > 0 {
		dst = append(dst, "retry: "...)
		// At least 1 ms: "retry: 0" would make the client reconnect in a
		// tight loop.
		dst = strconv.AppendInt(dst, max(retry.Milliseconds(), 1), 10)
		dst = append(dst, '\n')
	}
	// A frame of only an id or a retry sets client state without
	// dispatching; every other frame carries at least one data line so the
	// client dispatches it, even with empty data.
	controlOnly := event == "" && sdata == "" && len(bdata) == 0 && (id != "" || retry > 0)
	switch {
	case controlOnly:
	case len(bdata) > 0:
		dst = appendDataBytes(dst, bdata)
	default:
		dst = appendDataString(dst, sdata)
	}
	return append(dst, '\n')
}

// appendDataString writes one "data: " line per line of s.
func appendDataString(dst []byte, s string) []byte {
	for {
		i := strings.IndexAny(s, "\r\n")
		dst = append(dst, "data: "...)
		if i < 0 {
			dst = append(dst, s...)
			return append(dst, '\n')
		}
		dst = append(dst, s[:i]...)
		dst = append(dst, '\n')
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
}

func appendDataBytes(dst []byte, b []byte) []byte {
	for {
		i := bytes.IndexAny(b, "\r\n")
		dst = append(dst, "data: "...)
		if i < 0 {
			dst = append(dst, b...)
			return append(dst, '\n')
		}
		dst = append(dst, b[:i]...)
		dst = append(dst, '\n')
		if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			i++
		}
		b = b[i+1:]
	}
}

// AppendComment appends a comment frame (": text\n\n"); comments keep
// idle connections alive through proxies and are ignored by clients.
// Line breaks in text start new comment lines.
func AppendComment(dst []byte, text string) []byte {
	for {
		i := strings.IndexAny(text, "\r\n")
		dst = append(dst, ':')
		if i < 0 {
			if text != "" {
				dst = append(dst, ' ')
				dst = append(dst, text...)
			}
			dst = append(dst, '\n')
			return append(dst, '\n')
		}
		dst = append(dst, ' ')
		dst = append(dst, text[:i]...)
		dst = append(dst, '\n')
		if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
			i++
		}
		text = text[i+1:]
	}
}
