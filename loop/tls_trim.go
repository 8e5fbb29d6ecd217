package loop

import (
	"bytes"
	"crypto/tls"
	"reflect"
	"unsafe"
)

// Releasing crypto/tls's read buffers between bursts.
//
// A tls.Conn keeps its record read buffer (rawInput), the plaintext view
// into it (input) and its handshake message buffer (hand) for the life of
// the connection, at the size of the largest record or handshake flight
// it ever received: about 1.5 KiB each after a browser's ClientHello with
// a post-quantum key share, 17 KiB after one full-size record. crypto/tls
// has no API to release them, and an idle stream would keep them forever.
// So when they are empty, the loop drops them (sets them to their zero
// value, which crypto/tls treats as a fresh buffer): hand once after the
// handshake; rawInput and input whenever they are empty and either big
// (cap > maxKeptTLSRead: a large record was consumed) or the connection
// carries a stream (an SSE subscriber sends nothing more; a WebSocket's
// next message gets a buffer of its own size). Between the requests of a
// keep-alive connection, small buffers are kept, so it does not allocate
// per record.
//
// The fields are found by name and type once, by reflection; if a Go
// release renames or retypes them, trimming turns itself off (the
// connection works as before, with more memory) and TestTLSTrim fails.

// maxKeptTLSRead is the read buffer capacity kept between records.
const maxKeptTLSRead = 4 << 10

var tlsFields = func() (f struct {
	ok                    bool
	rawInput, input, hand uintptr
}) {
	t := reflect.TypeFor[tls.Conn]()
	buf, rd := reflect.TypeFor[bytes.Buffer](), reflect.TypeFor[bytes.Reader]()
	raw, ok1 := t.FieldByName("rawInput")
	in, ok2 := t.FieldByName("input")
	hand, ok3 := t.FieldByName("hand")
	if !ok1 || !ok2 || !ok3 || raw.Type != buf || in.Type != rd || hand.Type != buf {
		return
	}
	f.ok, f.rawInput, f.input, f.hand = true, raw.Offset, in.Offset, hand.Offset
	return
}()

// tlsTrimHandshake drops the empty handshake message buffer.
func tlsTrimHandshake(tc *tls.Conn) {
	if !tlsFields.ok {
		return
	}
	if hand := (*bytes.Buffer)(unsafe.Add(unsafe.Pointer(tc), tlsFields.hand)); hand.Len() == 0 {
		*hand = bytes.Buffer{}
	}
}

// tlsTrimRead drops the read buffer when it holds nothing (no partial
// record, no unread plaintext) and is worth dropping: always when stream
// is set, else when it is bigger than maxKeptTLSRead. It reports whether
// it dropped it.
func tlsTrimRead(tc *tls.Conn, stream bool) bool {
	if !tlsFields.ok {
		return false
	}
	p := unsafe.Pointer(tc)
	raw := (*bytes.Buffer)(unsafe.Add(p, tlsFields.rawInput))
	in := (*bytes.Reader)(unsafe.Add(p, tlsFields.input))
	if raw.Len() != 0 || in.Len() != 0 || raw.Cap() == 0 || (!stream && raw.Cap() <= maxKeptTLSRead) {
		return false
	}
	*raw = bytes.Buffer{}
	*in = bytes.Reader{}
	return true
}

// tlsPartial reports whether crypto/tls holds part of a record.
func tlsPartial(tc *tls.Conn) bool {
	if !tlsFields.ok {
		return false
	}
	return (*bytes.Buffer)(unsafe.Add(unsafe.Pointer(tc), tlsFields.rawInput)).Len() > 0
}

// tlsBufferCaps reports the capacities of the read and handshake buffers
// (tests).
func tlsBufferCaps(tc *tls.Conn) (raw, hand int) {
	if !tlsFields.ok {
		return -1, -1
	}
	p := unsafe.Pointer(tc)
	return (*bytes.Buffer)(unsafe.Add(p, tlsFields.rawInput)).Cap(), (*bytes.Buffer)(unsafe.Add(p, tlsFields.hand)).Cap()
}
