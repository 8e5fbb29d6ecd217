package rawloop

import (
	"sync/atomic"
	"time"
)

// DatedHello is the canned answer of the gnet ceilings (gnetraw, gnetraw-tls)
// to GET /hello: a full response whose Date is refreshed every second.
type DatedHello struct{ p atomic.Pointer[[]byte] }

// Refresh rebuilds the answer with the current Date.
func (h *DatedHello) Refresh() {
	b := []byte("HTTP/1.1 200 OK\r\nServer: gnet\r\nContent-Type: text/plain\r\nDate: ")
	b = time.Now().UTC().AppendFormat(b, "Mon, 02 Jan 2006 15:04:05 GMT")
	b = append(b, "\r\nContent-Length: 13\r\n\r\nHello, World!"...)
	h.p.Store(&b)
}

// KeepFresh refreshes the answer now and then every second, on a
// goroutine of its own, for the life of the process.
func (h *DatedHello) KeepFresh() {
	h.Refresh()
	go func() {
		for range time.Tick(time.Second) {
			h.Refresh()
		}
	}()
}

// Bytes returns the current answer; it is never modified.
func (h *DatedHello) Bytes() []byte { return *h.p.Load() }
