package harness

import (
	"crypto/tls"

	"github.com/streamd/streamd/internal/testcert"
)

// TLSCert is the one certificate every server of a run gets: a throwaway
// CA and an ECDSA P-256 server certificate for 127.0.0.1 (internal/testcert),
// written as PEM files.
type TLSCert struct {
	CA, Cert, Key string // PEM file paths
	c             *testcert.Cert
}

// NewTLSCert makes the certificate and writes ca.pem, cert.pem and key.pem
// into dir.
func NewTLSCert(dir string) (*TLSCert, error) {
	c := testcert.New()
	ca, cert, key, err := c.WriteFiles(dir)
	if err != nil {
		return nil, err
	}
	return &TLSCert{CA: ca, Cert: cert, Key: key, c: c}, nil
}

// ServerArgs are the flags that make a CapTLS server speak HTTPS with it.
func (t *TLSCert) ServerArgs() []string {
	return []string{"-tls-cert", t.Cert, "-tls-key", t.Key}
}

// Client returns a client config trusting the CA, with a session cache
// (resumption) when resume is set.
func (t *TLSCert) Client(resume bool) *tls.Config {
	cfg := t.c.Client()
	if resume {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(64)
	}
	return cfg
}
