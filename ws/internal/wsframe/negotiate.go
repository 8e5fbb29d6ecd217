package wsframe

import "strconv"

// DefaultCompressionThreshold is the size below which messages are sent
// uncompressed: deflate's block overhead and the CPU cost outweigh the
// saving on small payloads.
const DefaultCompressionThreshold = 256

// DeflateConfig configures permessage-deflate (RFC 7692) on the server.
type DeflateConfig struct {
	// Enabled turns negotiation on; when false NegotiateDeflate declines.
	Enabled bool

	// ServerNoContextTakeover makes the server reset its compressor after
	// every message (RFC 7692, Section 7.1.1.1). It is announced even when
	// the client did not ask for it. Without it every socket keeps a flate
	// writer (about 800 KB) alive between messages (see [Compressor]), so
	// servers with many sockets should set it; with it, a message
	// compresses to the same bytes for every receiver, so a broadcast can be
	// compressed once.
	ServerNoContextTakeover bool

	// ClientNoContextTakeover asks the client to reset its compressor after
	// every message (RFC 7692, Section 7.1.1.2), so the server keeps no
	// inflate window between messages.
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

// DeflateParams is what was agreed for one connection.
type DeflateParams struct {
	ServerNoContextTakeover bool
	ClientNoContextTakeover bool
	ServerMaxWindowBits     int // 8–15: the window our compressor may use
	ClientMaxWindowBits     int // 8–15: the window the client's compressor may use
	Threshold               int // copied from DeflateConfig, defaults applied
	Level                   int // copied from DeflateConfig, defaults applied

	serverBitsOffered bool // the offer carried server_max_window_bits: answer it
}

// DecoderConfig returns the decoder settings for a connection that agreed p.
func (p DeflateParams) DecoderConfig(readLimit int64) DecoderConfig {
	return DecoderConfig{
		ReadLimit:               readLimit,
		Deflate:                 true,
		ClientNoContextTakeover: p.ClientNoContextTakeover,
		ClientMaxWindowBits:     p.ClientMaxWindowBits,
	}
}

// deflateOffer is one parsed permessage-deflate offer.
type deflateOffer struct {
	serverNoCtx, clientNoCtx bool
	serverBits               int // 0: absent
	clientBits               int // 0: absent, -1: present without value
	seen                     uint8
	bad                      bool
}

const (
	seenServerNoCtx = 1 << iota
	seenClientNoCtx
	seenServerBits
	seenClientBits
)

// NegotiateDeflate picks the first acceptable permessage-deflate offer in a
// Sec-WebSocket-Extensions header value (several comma-separated offers and
// other extensions may appear; pass repeated header lines joined by ", ").
// It returns the value for the response's Sec-WebSocket-Extensions header
// and the agreed parameters; ok is false when deflate is disabled, the
// header is malformed, or no offer is acceptable.
//
// An offer is declined for an unknown or duplicate parameter, a
// *_no_context_takeover with a value, or a window size that is missing
// (server_max_window_bits) or not 8–15 written without leading zeros
// (RFC 7692, Sections 5 and 7.1). Quoted values are unquoted first
// (RFC 6455, Section 9.1).
//
// server_max_window_bits below 15 is honoured: klauspost/compress's
// NewWriterWindow encodes with any window from 32 bytes to 32 KiB.
//
// It allocates only the response string; call it at handshake time.
func NegotiateDeflate(offer []byte, cfg DeflateConfig) (response string, p DeflateParams, ok bool) {
	if !cfg.Enabled {
		return "", p, false
	}
	var (
		found bool
		cur   deflateOffer
		inPMD bool
	)
	s := extScanner{b: offer}
	s.ows()
	for {
		name, ok1 := s.token()
		if !ok1 {
			return "", DeflateParams{}, false
		}
		inPMD = asciiEqualFold(name, "permessage-deflate")
		cur = deflateOffer{}
		for {
			s.ows()
			c, more := s.peek()
			if !more || c == ',' {
				break
			}
			if c != ';' {
				return "", DeflateParams{}, false
			}
			s.i++
			s.ows()
			pname, ok2 := s.token()
			if !ok2 {
				return "", DeflateParams{}, false
			}
			s.ows()
			var val []byte
			hasVal := false
			if c, more := s.peek(); more && c == '=' {
				s.i++
				s.ows()
				if val, ok2 = s.value(); !ok2 {
					return "", DeflateParams{}, false
				}
				hasVal = true
			}
			if inPMD {
				cur.param(pname, val, hasVal)
			}
		}
		if inPMD && !found && !cur.bad {
			p, found = acceptOffer(&cur, &cfg)
		}
		s.ows()
		if _, more := s.peek(); !more {
			break
		}
		s.i++ // ','
		s.ows()
	}
	if !found {
		return "", DeflateParams{}, false
	}
	return p.response(), p, true
}

// param records one parameter of a permessage-deflate offer.
func (o *deflateOffer) param(name, val []byte, hasVal bool) {
	var bit uint8
	switch {
	case asciiEqualFold(name, "server_no_context_takeover"):
		bit = seenServerNoCtx
		o.serverNoCtx = true
		o.bad = o.bad || hasVal
	case asciiEqualFold(name, "client_no_context_takeover"):
		bit = seenClientNoCtx
		o.clientNoCtx = true
		o.bad = o.bad || hasVal
	case asciiEqualFold(name, "server_max_window_bits"):
		bit = seenServerBits
		o.serverBits = parseWindowBits(val)
		o.bad = o.bad || !hasVal || o.serverBits == 0
	case asciiEqualFold(name, "client_max_window_bits"):
		bit = seenClientBits
		o.clientBits = -1
		if hasVal {
			o.clientBits = parseWindowBits(val)
			o.bad = o.bad || o.clientBits == 0
		}
	default:
		o.bad = true
		return
	}
	if o.seen&bit != 0 {
		o.bad = true
	}
	o.seen |= bit
}

// parseWindowBits parses "8".."15" without leading zeros, or returns 0.
func parseWindowBits(v []byte) int {
	switch len(v) {
	case 1:
		if v[0] >= '8' && v[0] <= '9' {
			return int(v[0] - '0')
		}
	case 2:
		if v[0] == '1' && v[1] >= '0' && v[1] <= '5' {
			return 10 + int(v[1]-'0')
		}
	}
	return 0
}

// clampBits maps 0 (unset) and out-of-range settings to a valid window size.
func clampBits(b int) int {
	if b < 8 || b > 15 {
		return 15
	}
	return b
}

// acceptOffer turns a well-formed offer into agreed parameters.
func acceptOffer(o *deflateOffer, cfg *DeflateConfig) (DeflateParams, bool) {
	p := DeflateParams{
		ServerNoContextTakeover: o.serverNoCtx || cfg.ServerNoContextTakeover,
		ClientNoContextTakeover: o.clientNoCtx || cfg.ClientNoContextTakeover,
		ServerMaxWindowBits:     clampBits(cfg.ServerMaxWindowBits),
		ClientMaxWindowBits:     15,
		Threshold:               cfg.Threshold,
		Level:                   cfg.Level,
	}
	if p.Threshold == 0 {
		p.Threshold = DefaultCompressionThreshold
	}
	if p.Level < 1 || p.Level > 9 {
		p.Level = 1
	}
	if o.serverBits != 0 {
		p.serverBitsOffered = true
		p.ServerMaxWindowBits = min(p.ServerMaxWindowBits, o.serverBits)
	}
	if o.clientBits != 0 {
		// The client may tell us its window (a value) or only that it can
		// take one from us (-1); answer with the smaller of ours and its.
		want := clampBits(cfg.ClientMaxWindowBits)
		if o.clientBits > 0 {
			want = min(want, o.clientBits)
		}
		p.ClientMaxWindowBits = want
	}
	return p, true
}

// response renders the Sec-WebSocket-Extensions response for p. A window
// parameter is echoed only when the offer carried it (RFC 7692, Section
// 7.1.2): server_max_window_bits when it did, since it must then be
// answered; client_max_window_bits when it is below 15.
func (p DeflateParams) response() string {
	b := make([]byte, 0, 128)
	b = append(b, "permessage-deflate"...)
	if p.ServerNoContextTakeover {
		b = append(b, "; server_no_context_takeover"...)
	}
	if p.ClientNoContextTakeover {
		b = append(b, "; client_no_context_takeover"...)
	}
	if p.serverBitsOffered {
		b = append(b, "; server_max_window_bits="...)
		b = strconv.AppendInt(b, int64(p.ServerMaxWindowBits), 10)
	}
	if p.ClientMaxWindowBits < 15 {
		b = append(b, "; client_max_window_bits="...)
		b = strconv.AppendInt(b, int64(p.ClientMaxWindowBits), 10)
	}
	return string(b)
}

// extScanner walks a Sec-WebSocket-Extensions value (RFC 6455, Section 9.1).
type extScanner struct {
	b []byte
	i int
}

func (s *extScanner) peek() (byte, bool) {
	if s.i < len(s.b) {
		return s.b[s.i], true
	}
	return 0, false
}

func (s *extScanner) ows() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t') {
		s.i++
	}
}

func (s *extScanner) token() ([]byte, bool) {
	start := s.i
	for s.i < len(s.b) && isTokenChar(s.b[s.i]) {
		s.i++
	}
	return s.b[start:s.i], s.i > start
}

// value reads a token or a quoted-string (RFC 9110, Section 5.6.4). For a
// quoted-string it returns the content when that is a plain token, as
// RFC 6455, Section 9.1 requires of extension parameter values, and nil
// otherwise (still ok: the syntax was fine, the value is just unusable).
func (s *extScanner) value() ([]byte, bool) {
	if c, ok := s.peek(); !ok || c != '"' {
		return s.token()
	}
	s.i++
	start := s.i
	plain := true
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			if !plain || len(v) == 0 {
				return nil, true
			}
			return v, true
		case c == '\\':
			plain = false
			s.i += 2
			continue
		case c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f):
			plain = plain && isTokenChar(c)
		default:
			return nil, false
		}
		s.i++
	}
	return nil, false // unterminated
}

// isTokenChar reports whether c is a tchar (RFC 9110, Section 5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// asciiEqualFold compares b with the lowercase constant s, ignoring ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
