package loop

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// tls13Sender encrypts TLS 1.3 records as a client would (RFC 8446,
// Section 5.2) from the client's application traffic secret, so a test
// can send records Go's client has no API for (a KeyUpdate) on a
// connection that Go's client set up.
type tls13Sender struct {
	hash   func() hash.Hash
	keyLen int
	secret []byte
	aead   cipher.AEAD
	iv     []byte
	seq    uint64
}

// newTLS13Sender takes the client's traffic secret from the key log of a
// TLS 1.3 connection with an AES-GCM suite, its sequence number at seq.
func newTLS13Sender(t *testing.T, st tls.ConnectionState, keyLog string, seq uint64) *tls13Sender {
	t.Helper()
	s := &tls13Sender{seq: seq}
	switch st.CipherSuite {
	case tls.TLS_AES_128_GCM_SHA256:
		s.hash, s.keyLen = sha256.New, 16
	case tls.TLS_AES_256_GCM_SHA384:
		s.hash, s.keyLen = sha512.New384, 32
	default:
		t.Skipf("cipher suite %s: this test encrypts with AES-GCM only", tls.CipherSuiteName(st.CipherSuite))
	}
	for line := range strings.Lines(keyLog) {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "CLIENT_TRAFFIC_SECRET_0" {
			secret, err := hex.DecodeString(f[2])
			if err != nil {
				t.Fatal(err)
			}
			s.setSecret(t, secret)
			return s
		}
	}
	t.Fatalf("no CLIENT_TRAFFIC_SECRET_0 in the key log %q", keyLog)
	return nil
}

// expandLabel is HKDF-Expand-Label (RFC 8446, Section 7.1) with an empty
// context.
func (s *tls13Sender) expandLabel(t *testing.T, secret []byte, label string, n int) []byte {
	info := binary.BigEndian.AppendUint16(nil, uint16(n))
	info = append(info, byte(len("tls13 "+label)))
	info = append(info, "tls13 "+label...)
	info = append(info, 0)
	out, err := hkdf.Expand(s.hash, secret, string(info), n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (s *tls13Sender) setSecret(t *testing.T, secret []byte) {
	s.secret = secret
	block, err := aes.NewCipher(s.expandLabel(t, secret, "key", s.keyLen))
	if err != nil {
		t.Fatal(err)
	}
	if s.aead, err = cipher.NewGCM(block); err != nil {
		t.Fatal(err)
	}
	s.iv = s.expandLabel(t, secret, "iv", 12)
}

// record appends one encrypted record of content type typ.
func (s *tls13Sender) record(dst []byte, typ byte, content []byte) []byte {
	nonce := bytes.Clone(s.iv)
	for i := range 8 {
		nonce[len(nonce)-1-i] ^= byte(s.seq >> (8 * i))
	}
	s.seq++
	inner := append(bytes.Clone(content), typ)
	hdr := []byte{23, 3, 3, 0, 0}
	binary.BigEndian.PutUint16(hdr[3:], uint16(len(inner)+s.aead.Overhead()))
	return s.aead.Seal(append(dst, hdr...), nonce, inner, hdr)
}

// keyUpdate appends a KeyUpdate asking the server to update its keys too,
// and moves on to the next traffic secret (RFC 8446, Section 4.6.3).
func (s *tls13Sender) keyUpdate(t *testing.T, dst []byte) []byte {
	dst = s.record(dst, 22, []byte{24, 0, 0, 1, 1}) // key_update, update_requested
	s.setSecret(t, s.expandLabel(t, s.secret, "traffic upd", s.hash().Size()))
	s.seq = 0
	return dst
}

// TestTLSKeyUpdateThenBudgetClose: a TLS 1.3 client whose connection a
// mode owns sends a KeyUpdate then more input than Config.MaxBufferedInput
// admits. The server answers the KeyUpdate with its own, then closes the
// connection for the budget; its KeyUpdate record must not stay in the
// loop's ciphertext buffer and go out in front of the next record the loop
// writes to another client (which cannot decrypt it and fails with
// bad_record_mac).
func TestTLSKeyUpdateThenBudgetClose(t *testing.T) {
	held := make(chan *Conn, 1)
	ts := startTLS(t, Config{Loops: 1, MaxBufferedInput: 32 << 10}, func(s *Server) {
		tlsRoutes(s)
		s.GET("/hold", func(c *Ctx) { held <- c.TakeOver(nopMode{}) })
	})
	other, otherBR := dialTLS(t, ts.addr, nil)

	nc, err := net.DialTimeout("tcp", ts.addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(testTimeout))
	var keyLog strings.Builder
	conf := cert().Client()
	conf.MinVersion, conf.KeyLogWriter = tls.VersionTLS13, &keyLog
	tc := tls.Client(nc, conf)
	if _, err := io.WriteString(tc, get("/hold")); err != nil { // the first application record, sequence 0
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(testTimeout):
		t.Fatal("/hold was not taken over")
	}
	s := newTLS13Sender(t, tc.ConnectionState(), keyLog.String(), 1)
	flight := s.keyUpdate(t, nil)
	for range 4 { // 64 KiB: over the 32 KiB budget
		flight = s.record(flight, 23, bytes.Repeat([]byte("x"), 16<<10))
	}
	if _, err := nc.Write(flight); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the close for the input budget", func() bool { return ts.Stats().Closes["input_budget"] == 1 })

	if _, err := io.WriteString(other, get("/hello")); err != nil {
		t.Fatal(err)
	}
	if _, body, err := readResponse(otherBR, "GET"); err != nil || body != "hello" {
		t.Fatalf("another client of the loop, after the close: %v %q; want hello", err, body)
	}
}
