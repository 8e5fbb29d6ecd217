package harness

import (
	"context"
	"testing"
)

// TestSmoke builds every server under servers/ and checks each endpoint it
// serves answers correctly. It asserts no timings. Servers without main.go
// are skipped with a log line.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs server binaries")
	}
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, err := NewTLSCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Servers(root) {
		t.Run(s.Name, func(t *testing.T) {
			if !s.Present {
				t.Logf("skipped: servers/%s/main.go does not exist yet", s.Name)
				return
			}
			bins, err := Build(context.Background(), root, dir, map[string]string{s.Name: s.Package()})
			if err != nil {
				t.Fatal(err)
			}
			p, err := StartServer(s.Name, bins[s.Name], -1, 1, s.Args...)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Stop()
			for _, c := range Smoke(s, p.Addr) {
				if c.Err != nil {
					t.Errorf("%s: %v", c.Name, c.Err)
				}
			}
			if !p.Alive() {
				t.Errorf("server died: %s", p.Output())
			}
			if !s.SpeaksTLS() {
				return
			}
			cfg := cert.Client(true)
			pt, err := StartServerTLS(s.Name, bins[s.Name], -1, 1, cfg, append(cert.ServerArgs(), s.Args...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer pt.Stop()
			for _, c := range SmokeTLS(s, pt.Addr, cfg) {
				if c.Err != nil {
					t.Errorf("%s: %v", c.Name, c.Err)
				}
			}
			if !pt.Alive() {
				t.Errorf("TLS server died: %s", pt.Output())
			}
		})
	}
}
