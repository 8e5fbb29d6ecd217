package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamd/streamd/internal/testcert"
)

// tlsClient trusts the CA of c.
func tlsClient(c *testcert.Cert) *tls.Config {
	conf := c.Client()
	conf.ServerName = "127.0.0.1"
	return conf
}

// dialTLSChild opens a TLS connection to the child, trusting conf.
func dialTLSChild(addr string, conf *tls.Config) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: binaryTimeout}
	tc, err := tls.DialWithDialer(d, "tcp", addr, conf)
	if err != nil {
		return nil, err
	}
	_ = tc.SetDeadline(time.Now().Add(binaryTimeout))
	return tc, nil
}

// httpsGet does one GET over a fresh TLS connection trusting conf.
func httpsGet(addr string, conf *tls.Config, path string) (int, string, error) {
	tc, err := dialTLSChild(addr, conf)
	if err != nil {
		return 0, "", err
	}
	defer tc.Close()
	if _, err := io.WriteString(tc, "GET "+path+" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), &http.Request{Method: "GET"})
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// httpsPostChat posts a chat message over TLS.
func httpsPostChat(t *testing.T, addr string, conf *tls.Config, msg string) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: conf, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: binaryTimeout}
	resp, err := c.PostForm("https://"+addr+"/chat", url.Values{"message": {msg}})
	if err != nil {
		t.Fatalf("POST /chat over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("POST /chat over TLS = %d; want 204", resp.StatusCode)
	}
}

// writeCert writes c's certificate and key over the files at certPath and
// keyPath, each through a rename so the server never reads half a file.
func writeCert(t *testing.T, c *testcert.Cert, certPath, keyPath string) {
	t.Helper()
	for _, f := range []struct {
		path string
		b    []byte
	}{{certPath, c.CertPEM}, {keyPath, c.KeyPEM}} {
		tmp := f.path + ".tmp"
		if err := os.WriteFile(tmp, f.b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBinaryTLS runs streamd with -tls-cert/-tls-key: HTTPS requests, an
// SSE stream over TLS that stays open while the certificate is reloaded
// on SIGHUP and on a file change, a failed reload that keeps the
// certificate in use, curl with --cacert, and SIGTERM.
func TestBinaryTLS(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first, second, third := testcert.New(), testcert.New(), testcert.New()
	writeCert(t, first, certPath, keyPath)
	addr := freeAddr(t)
	c := startChild(t, addr, startOpts{args: []string{"-tls-cert", certPath, "-tls-key", keyPath}})
	c.waitLog("tls=true")

	if st, body, err := httpsGet(addr, tlsClient(first), "/hello"); err != nil || st != 200 || body != "Hello, World!" {
		t.Fatalf("GET /hello over TLS: %d %q %v", st, body, err)
	}
	// Plain HTTP on the TLS port gets no answer.
	if err := healthz("http://" + addr); err == nil {
		t.Errorf("plain HTTP on the TLS port answered")
	}

	tc, err := dialTLSChild(addr, tlsClient(first))
	if err != nil {
		t.Fatal(err)
	}
	stream := openSSEOver(t, tc, "/sse/chat", "")
	nextChat := func(want string) {
		t.Helper()
		for {
			ev := stream.next()
			if strings.Contains(ev.Data, want) {
				return
			}
		}
	}
	httpsPostChat(t, addr, tlsClient(first), "before reload")
	nextChat("before reload")

	// SIGHUP: new connections get the second certificate; the stream
	// stays open.
	writeCert(t, second, certPath, keyPath)
	c.signal(syscall.SIGHUP)
	waitCert := func(cert *testcert.Cert) {
		t.Helper()
		deadline := time.Now().Add(binaryTimeout)
		for {
			_, _, err := httpsGet(addr, tlsClient(cert), "/hello")
			if err == nil {
				return
			}
			var unknown x509.UnknownAuthorityError
			if !errors.As(err, &unknown) {
				t.Fatalf("GET over TLS while waiting for the reload: %v", err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("the server still presents the old certificate after %v", binaryTimeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitCert(second)
	c.waitLog("trigger=SIGHUP")
	if _, _, err := httpsGet(addr, tlsClient(first), "/hello"); err == nil {
		t.Errorf("a client trusting only the first CA connected after the reload")
	}
	httpsPostChat(t, addr, tlsClient(second), "after SIGHUP")
	nextChat("after SIGHUP")

	// A change of the files alone reloads too.
	writeCert(t, third, certPath, keyPath)
	waitCert(third)
	c.waitLog(`trigger="files changed"`)

	// A broken key: the reload fails and the certificate in use stays.
	if err := os.WriteFile(keyPath, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.signal(syscall.SIGHUP)
	c.waitLog("TLS certificate reload failed")
	if st, _, err := httpsGet(addr, tlsClient(third), "/hello"); err != nil || st != 200 {
		t.Errorf("after a failed reload: %d %v; want the third certificate still served", st, err)
	}
	httpsPostChat(t, addr, tlsClient(third), "after the failed reload")
	nextChat("after the failed reload")

	// curl, trusting the CA by file.
	if _, err := exec.LookPath("curl"); err == nil {
		ca := filepath.Join(dir, "ca3.pem")
		if err := os.WriteFile(ca, third.CAPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("curl", "-sS", "--max-time", "20", "--cacert", ca, "https://"+addr+"/hello").CombinedOutput()
		if err != nil || string(out) != "Hello, World!" {
			t.Errorf("curl --cacert: %v %q", err, out)
		}
	} else if os.Getenv("CI") == "true" {
		t.Error("curl is required in CI")
	} else {
		t.Log("curl not installed: skipping the curl check")
	}

	c.signal(syscall.SIGTERM)
	if code := c.wait(binaryTimeout); code != 0 {
		t.Fatalf("streamd exited %d after SIGTERM; want 0", code)
	}
}

// TestBinaryMutualTLS: with -tls-client-ca a client without a certificate
// is refused in the handshake and one with a certificate from that CA is
// served.
func TestBinaryMutualTLS(t *testing.T) {
	dir := t.TempDir()
	c := testcert.New()
	ca, certPath, keyPath, err := c.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	child := startChild(t, addr, startOpts{args: []string{"-tls-cert", certPath, "-tls-key", keyPath, "-tls-client-ca", ca}})
	if _, _, err := httpsGet(addr, tlsClient(c), "/hello"); err == nil {
		t.Errorf("a client without a certificate was served")
	}
	withCert := tlsClient(c)
	withCert.Certificates = []tls.Certificate{c.TLS} // the test certificate is also good for client auth
	if st, body, err := httpsGet(addr, withCert, "/hello"); err != nil || st != 200 || body != "Hello, World!" {
		t.Errorf("a client with a certificate from the CA: %d %q %v", st, body, err)
	}
	child.signal(syscall.SIGTERM)
	if code := child.wait(binaryTimeout); code != 0 {
		t.Fatalf("streamd exited %d after SIGTERM; want 0", code)
	}
}

// TestTLSMissingCertificate: a certificate that cannot be loaded stops
// the start with an error naming the files.
func TestTLSMissingCertificate(t *testing.T) {
	dir := t.TempDir()
	cfg := config{addr: "127.0.0.1:0", loops: 1, shutdownTimeout: time.Second,
		tlsCert: filepath.Join(dir, "none.pem"), tlsKey: filepath.Join(dir, "none-key.pem")}
	err := run(t.Context(), cfg, slog.New(slog.DiscardHandler), nil)
	if err == nil || !strings.Contains(err.Error(), "none.pem") {
		t.Errorf("run with a missing certificate = %v; want an error naming the file", err)
	}
}
