package ws

import (
	"math"
	"strings"
	"time"

	"github.com/streamd/streamd/httpcodec"
	"github.com/streamd/streamd/internal/bytesconv"
	"github.com/streamd/streamd/loop"
	"github.com/streamd/streamd/ws/internal/wsframe"
)

// Defaults of Options.
const (
	// DefaultPingInterval is how often a socket pings its client.
	DefaultPingInterval = 30 * time.Second
	// DefaultCloseTimeout bounds the closing handshake.
	DefaultCloseTimeout = 5 * time.Second
	// DefaultReadLimit caps a message's size in bytes, after
	// decompression; a bigger message closes the socket with 1009.
	DefaultReadLimit = 1 << 20
	// DefaultCompressionThreshold is the size below which messages are
	// sent uncompressed: deflate's block overhead and CPU cost outweigh
	// the saving on small payloads.
	DefaultCompressionThreshold = 256
)

// Options configure an Upgrader. Every socket of the Upgrader reads them,
// from its loop, for as long as it is open: do not change them after the
// Upgrader's first use.
type Options struct {
	// Subprotocols the server speaks, in order of preference; the first
	// one the client also offers is chosen.
	Subprotocols []string
	// CheckOrigin decides whether a handshake's Origin is allowed. Nil
	// means SameOrigin: no Origin header (non-browser clients send none)
	// or one whose host equals the Host header. It runs on the loop, so
	// it must not block.
	CheckOrigin func(origin, host string) bool
	// ReadLimit caps a message's size; default DefaultReadLimit. Bigger
	// messages close the socket with 1009. It may exceed the server's
	// MaxPendingInput: a frame of more than 64 KiB still arriving is
	// gathered in a per-socket buffer, freed once the frame is decoded.
	ReadLimit int64
	// Compression configures permessage-deflate (RFC 7692); off unless
	// Compression.Enabled.
	Compression DeflateConfig
	// PingInterval is how often the server pings; a socket whose pong has
	// not arrived by the next ping is closed. 0 means DefaultPingInterval,
	// negative disables pings.
	PingInterval time.Duration
	// CloseTimeout bounds the closing handshake: after sending a close
	// frame the server waits this long for the client's. Default
	// DefaultCloseTimeout.
	CloseTimeout time.Duration
	// Hub is where Join finds topics. Nil: Join returns ErrNoHub.
	Hub *loop.Hub
	// MaxBuffered caps a socket's queued output; data frames beyond it
	// are dropped (reported as Dropped). Default 4 × the server's high
	// watermark. Control frames (pong, close) are never dropped.
	MaxBuffered int

	// MessageRate limits how many messages per second a client may send,
	// with a token bucket of MessageBurst tokens refilled at MessageRate
	// tokens per second; 0 (the default), a negative value or +Inf means
	// no limit. Each data message costs one token, charged at its first
	// frame however many fragments follow (ReadLimit bounds its size);
	// each ping costs one, since the server answers it with a pong; so
	// does each pong, except one answering the server's keepalive ping
	// (so a client is never punished for it). Close frames are free.
	// Frames arriving after the socket started closing are not counted
	// (they are not delivered either). The clock is monotonic; tokens
	// are counted per socket, not per client address.
	MessageRate float64
	// MessageBurst is the bucket's size: how many messages may arrive
	// back to back after a quiet spell. 0 means max(1, int(MessageRate)).
	// Under RatePause keep it at MessageRate × 0.1 s or more: a pause
	// lasts at least the loop's 100 ms tick, so a smaller bucket lowers
	// the rate actually reached to MessageBurst per 100 ms.
	MessageBurst int
	// RatePolicy is what happens to a message that finds no token:
	// RatePause (the default) stops reading the connection until the next
	// token is due, so TCP backpressure slows the client; RateClose fails
	// the socket with 1008 (policy violation).
	RatePolicy RatePolicy
}

// DeflateConfig configures permessage-deflate (RFC 7692) for the sockets of
// an Upgrader (Options.Compression). The zero value disables it.
type DeflateConfig struct {
	// Enabled turns negotiation on; when false, offers are declined.
	Enabled bool

	// ServerNoContextTakeover makes the server reset its compressor after
	// every message (RFC 7692, Section 7.1.1.1). It is announced even when
	// the client did not ask for it. Without it every socket keeps a flate
	// writer (about 800 KB at level 1, up to 1.4 MB at level 9, with
	// klauspost/compress v1.20.3) alive between messages, which does not
	// scale to many sockets: servers with many sockets should set it.
	// With it, the server holds no compression state between messages.
	ServerNoContextTakeover bool

	// ClientNoContextTakeover asks the client to reset its compressor after
	// every message (RFC 7692, Section 7.1.1.2), so the server keeps no
	// inflate window between messages. Without it every socket keeps the
	// client's window (1<<ClientMaxWindowBits bytes) from its first
	// compressed message on.
	ClientNoContextTakeover bool

	// ServerMaxWindowBits caps the server's LZ77 window to 1<<bits bytes,
	// 8–15; 0 means 15 (32 KiB). A client's server_max_window_bits request
	// lowers it further.
	ServerMaxWindowBits int

	// ClientMaxWindowBits, 8–15, is answered when the client offers
	// client_max_window_bits: a smaller client window means a smaller
	// per-socket inflate window under context takeover. 0 means 15.
	ClientMaxWindowBits int

	// Threshold is the payload size below which messages are not
	// compressed; 0 means DefaultCompressionThreshold, negative means always.
	Threshold int

	// Level is the flate compression level, 1 (fastest) to 9; 0 means 1.
	// A window under 15 bits always uses klauspost's windowed level-5 encoder.
	Level int
}

// SameOrigin is the default origin check: a request without Origin (not
// from a browser) or whose Origin host equals its Host header, ignoring
// case. Safe from any goroutine.
func SameOrigin(origin, host string) bool {
	if origin == "" {
		return true
	}
	i := strings.Index(origin, "://")
	if i < 0 {
		return false
	}
	return strings.EqualFold(origin[i+3:], host)
}

// Upgrader performs the server side of the opening handshake
// (RFC 6455, Section 4.2) with a fixed set of Options.
//
// # Concurrency
//
// An Upgrader is read-only after its first use and may serve every loop:
// its Options must not change once Upgrade has been called.
type Upgrader struct {
	// Options apply to every socket the Upgrader opens; the sockets keep
	// a pointer to them.
	Options Options
}

var defaultUpgrader Upgrader

// Upgrade answers a WebSocket handshake with the default Options and
// switches the connection to frame mode; h's callbacks then run on the
// connection's loop. On a bad handshake it answers with an HTTP error
// (400, 403, 405, or 426 with Sec-WebSocket-Version: 13) and returns nil.
// On the loop: call it from the route's handler, with its Ctx; OnOpen runs
// before it returns.
func Upgrade(c *loop.Ctx, h Handler) *Socket { return defaultUpgrader.Upgrade(c, h) }

// Upgrade is the package-level [Upgrade] with u's Options. On the loop:
// call it from the route's handler, with its Ctx. Several loops may call
// it on one Upgrader at once.
func (u *Upgrader) Upgrade(c *loop.Ctx, h Handler) *Socket {
	req := c.Request()
	if c.Method() != "GET" {
		c.Error(405, "websocket handshake needs GET")
		return nil
	}
	if req.ProtoMinor < 1 || !req.HasToken("Upgrade", "websocket") || !req.HasToken("Connection", "upgrade") {
		c.SetHeader("Upgrade", "websocket")
		c.SetHeader("Connection", "Upgrade")
		c.Error(426, "this endpoint speaks WebSocket: send an Upgrade: websocket handshake")
		return nil
	}
	if string(req.Header("Sec-WebSocket-Version")) != "13" {
		c.SetHeader("Sec-WebSocket-Version", "13")
		c.Error(426, "unsupported Sec-WebSocket-Version: want 13")
		return nil
	}
	key := req.Header("Sec-WebSocket-Key")
	if !wsframe.ValidChallengeKey(key) {
		c.Error(400, "Sec-WebSocket-Key must be 16 bytes in base64")
		return nil
	}
	if check := u.Options.CheckOrigin; check != nil {
		if !check(string(req.Header("Origin")), string(req.Host)) {
			c.Error(403, "origin not allowed")
			return nil
		}
	} else if !SameOrigin(bytesconv.String(req.Header("Origin")), bytesconv.String(req.Host)) {
		// SameOrigin keeps neither string: no copies needed.
		c.Error(403, "origin not allowed")
		return nil
	}

	// The head is built on the stack and copied once, into the
	// connection's output, by WriteStreamHead.
	var headBuf [256]byte
	head := append(headBuf[:0], "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	head = wsframe.AppendAcceptKey(head, key)
	head = append(head, "\r\n"...)
	proto := u.chooseSubprotocol(req)
	if proto > 0 {
		head = append(head, "Sec-WebSocket-Protocol: "...)
		head = append(head, u.Options.Subprotocols[proto-1]...)
		head = append(head, "\r\n"...)
	}
	s := &Socket{
		opts:      &u.Options,
		onMessage: h.OnMessage,
		onClose:   h.OnClose,
		onError:   h.OnError,
		subproto:  proto,
	}
	decCfg := wsframe.DecoderConfig{ReadLimit: u.Options.ReadLimit}
	if ext := req.Header("Sec-WebSocket-Extensions"); len(ext) > 0 && u.Options.Compression.Enabled {
		if resp, params, ok := wsframe.NegotiateDeflate(ext, wsframe.DeflateConfig(u.Options.Compression)); ok {
			head = append(head, "Sec-WebSocket-Extensions: "...)
			head = append(head, resp...)
			head = append(head, "\r\n"...)
			decCfg = params.DecoderConfig(u.Options.ReadLimit)
			s.comp = new(wsframe.Compressor)
			s.comp.Init(params)
		}
	}
	s.dec.Init(decCfg)
	s.conn = c.TakeOver(mode{s})
	c.WriteStreamHead(101, bytesconv.String(head))
	s.schedulePing()
	if h.OnOpen != nil {
		h.OnOpen(s)
	}
	return s
}

// chooseSubprotocol returns 1 + the index in Options.Subprotocols of the
// subprotocol to use, or 0 for none.
func (u *Upgrader) chooseSubprotocol(req *httpcodec.Request) uint16 {
	offered := req.Header("Sec-WebSocket-Protocol")
	if len(offered) == 0 {
		return 0
	}
	for i, p := range u.Options.Subprotocols {
		if i == math.MaxUint16 {
			break // the index must fit Socket.subproto
		}
		if req.HasToken("Sec-WebSocket-Protocol", p) {
			return uint16(i + 1)
		}
	}
	return 0
}
