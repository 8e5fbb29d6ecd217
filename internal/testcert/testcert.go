// Package testcert makes a throwaway certificate authority and a server
// certificate for 127.0.0.1 and localhost at test time (ECDSA P-256), so
// TLS tests use real certificates and no key is ever committed.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Cert is a server certificate and the CA that signed it.
type Cert struct {
	CA      *x509.CertPool // trusts the CA
	CAPEM   []byte         // the CA certificate, PEM
	CertPEM []byte         // the server certificate, PEM
	KeyPEM  []byte         // the server key, PEM (PKCS #8)
	TLS     tls.Certificate
	// SPKIHash is base64(sha256(server public key)), as Chromium's
	// --ignore-certificate-errors-spki-list wants it.
	SPKIHash string
}

// New makes a CA and a server certificate for 127.0.0.1, ::1 and
// localhost, valid from an hour ago for two days. It panics on failure
// (crypto/rand does not fail).
func New() *Cert {
	caKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "streamd test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER := must(x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey))
	caCert := must(x509.ParseCertificate(caDER))

	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(48 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey))
	keyDER := must(x509.MarshalPKCS8PrivateKey(key))
	spki := must(x509.MarshalPKIXPublicKey(&key.PublicKey))
	sum := sha256.Sum256(spki)

	c := &Cert{
		CA:       x509.NewCertPool(),
		CAPEM:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		CertPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		SPKIHash: base64.StdEncoding.EncodeToString(sum[:]),
	}
	c.CA.AddCert(caCert)
	c.TLS = must(tls.X509KeyPair(c.CertPEM, c.KeyPEM))
	return c
}

// Server returns a server config with the certificate.
func (c *Cert) Server() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.TLS}}
}

// Client returns a client config that trusts the CA.
func (c *Cert) Client() *tls.Config {
	return &tls.Config{RootCAs: c.CA, ServerName: "127.0.0.1"}
}

// WriteFiles writes ca.pem, cert.pem and key.pem into dir and returns
// their paths.
func (c *Cert) WriteFiles(dir string) (ca, cert, key string, err error) {
	ca, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []struct {
		path string
		b    []byte
	}{{ca, c.CAPEM}, {cert, c.CertPEM}, {key, c.KeyPEM}} {
		if err = os.WriteFile(f.path, f.b, 0o600); err != nil {
			return
		}
	}
	return
}

func must[T any](v T, err error) T {
	if err != nil {
		panic("testcert: " + err.Error())
	}
	return v
}
