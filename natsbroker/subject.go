package natsbroker

import "strings"

// MaxTopicLen is the longest topic name, in bytes, that a Broker accepts.
// An encoded topic is at most three times as long (see appendToken), so a
// subject stays far below NATS's 4 KiB control-line limit.
const MaxTopicLen = 512

// Topic names are arbitrary byte strings (UTF-8 in practice); a NATS subject
// token must be non-empty and must not contain '.', '*', '>' or white space.
// appendToken maps a topic to one token with a percent-style escape over a
// fixed alphabet:
//
//	A-Z a-z 0-9 '-' '_'   stand for themselves
//	any other byte b       "%HH", HH = b in two upper-case hex digits
//
// So "room-1" stays "room-1" (readable in `nats stream view`), "a.b" becomes
// "a%2Eb" and "café" becomes "caf%C3%A9". Every output byte is in
// [A-Za-z0-9_%-], so the token is valid in any NATS subject; the mapping is
// injective and parseToken accepts only its canonical output (upper-case hex,
// no escaped plain bytes), so one topic has exactly one subject.
func appendToken(dst []byte, topic string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if plainByte(c) {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hex[c>>4], hex[c&15])
	}
	return dst
}

// plainByte reports whether c stands for itself in a token.
func plainByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// parseToken is the inverse of appendToken. It reports false for a token that
// appendToken does not produce (another publisher's subject).
func parseToken(tok string) (string, bool) {
	if tok == "" {
		return "", false
	}
	if strings.IndexByte(tok, '%') < 0 {
		for i := 0; i < len(tok); i++ {
			if !plainByte(tok[i]) {
				return "", false
			}
		}
		return tok, true
	}
	b := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if plainByte(c) {
			b = append(b, c)
			continue
		}
		if c != '%' || i+2 >= len(tok) {
			return "", false
		}
		hi, ok1 := unhex(tok[i+1])
		lo, ok2 := unhex(tok[i+2])
		v := hi<<4 | lo
		if !ok1 || !ok2 || plainByte(v) {
			return "", false
		}
		b = append(b, v)
		i += 2
	}
	return string(b), true
}

// unhex decodes one upper-case hex digit.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// validTopic reports whether a Broker accepts topic.
func validTopic(topic string) bool { return topic != "" && len(topic) <= MaxTopicLen }
