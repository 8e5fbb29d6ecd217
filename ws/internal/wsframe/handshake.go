package wsframe

import (
	"crypto/sha1"
	"encoding/base64"
)

// acceptGUID is appended to Sec-WebSocket-Key before hashing (RFC 6455, Section 1.3).
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKeyLen is the length of a Sec-WebSocket-Accept value: base64 of a
// 20-byte SHA-1 digest.
const AcceptKeyLen = 28

// AppendAcceptKey appends the Sec-WebSocket-Accept value for challengeKey,
// base64(SHA-1(challengeKey + GUID)), to dst. It does not allocate for keys of
// up to 92 bytes (a valid key has 24); check the key first with
// [ValidChallengeKey]. See RFC 6455, Section 4.2.2.
func AppendAcceptKey(dst, challengeKey []byte) []byte {
	var buf [128]byte
	var sum [sha1.Size]byte
	if len(challengeKey)+len(acceptGUID) <= len(buf) {
		n := copy(buf[:], challengeKey)
		n += copy(buf[n:], acceptGUID)
		sum = sha1.Sum(buf[:n])
	} else {
		h := sha1.New()
		h.Write(challengeKey)
		h.Write([]byte(acceptGUID))
		h.Sum(sum[:0])
	}
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}

// AcceptKey returns the Sec-WebSocket-Accept value for challengeKey.
// See [AppendAcceptKey].
func AcceptKey(challengeKey []byte) string {
	var buf [AcceptKeyLen]byte
	return string(AppendAcceptKey(buf[:0], challengeKey))
}

// ValidChallengeKey reports whether key, a Sec-WebSocket-Key value with
// surrounding whitespace already trimmed, is base64 that decodes to exactly
// 16 bytes (RFC 6455, Section 4.1, item 7).
func ValidChallengeKey(key []byte) bool {
	if len(key) != 24 {
		return false
	}
	var out [18]byte
	n, err := base64.StdEncoding.Decode(out[:], key)
	return err == nil && n == 16
}
