package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// certPoll is how often the certificate files are checked for changes
// (modification time and size), besides SIGHUP. Polling works for files
// replaced by rename and for the symlink swaps of mounted secrets, where
// change notifications are easy to miss.
const certPoll = 2 * time.Second

// certReloader serves the certificate from -tls-cert/-tls-key and loads
// it again on SIGHUP and when the files change. A reload that fails (a
// half-written file, a key that does not match) keeps the certificate in
// use and logs why. Connections already open keep theirs: a reload never
// drops a stream.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	cur               atomic.Pointer[tls.Certificate]
	stamp             string // the files' modification times and sizes when last loaded
	reloads, failures atomic.Int64
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

// load reads the pair; it changes nothing on error.
func (r *certReloader) load() error {
	stamp := r.fileStamp()
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s, key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cur.Store(&cert)
	r.stamp = stamp
	return nil
}

func (r *certReloader) fileStamp() string {
	s := ""
	for _, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return "" // missing now: try again on the next poll
		}
		s += fmt.Sprintf("%d/%d;", fi.ModTime().UnixNano(), fi.Size())
	}
	return s
}

func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

func (r *certReloader) reload(why string) {
	if err := r.load(); err != nil {
		r.failures.Add(1)
		r.log.Error("TLS certificate reload failed; keeping the current one", slog.String("trigger", why), slog.Any("err", err))
		return
	}
	r.reloads.Add(1)
	r.log.Info("TLS certificate reloaded", slog.String("trigger", why), slog.String("cert", r.certFile))
}

// watch reloads on SIGHUP and on file changes until ctx ends.
func (r *certReloader) watch(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	t := time.NewTicker(certPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload("SIGHUP")
		case <-t.C:
			if s := r.fileStamp(); s != "" && s != r.stamp {
				r.reload("files changed")
			}
		}
	}
}

// tlsConfig builds the server's TLS settings from the flags: TLS 1.2 and
// 1.3 with Go's default cipher suites, ALPN http/1.1, session tickets with
// crypto/tls's automatic key rotation, and with -tls-client-ca, client
// certificates required and verified against that CA.
func tlsConfig(cfg config, r *certReloader) (*tls.Config, error) {
	conf := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: r.getCertificate,
	}
	if cfg.tlsClientCA != "" {
		pem, err := os.ReadFile(cfg.tlsClientCA)
		if err != nil {
			return nil, fmt.Errorf("-tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("-tls-client-ca " + cfg.tlsClientCA + ": no PEM certificate in it")
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return conf, nil
}
