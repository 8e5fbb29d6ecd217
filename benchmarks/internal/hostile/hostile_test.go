package hostile

import (
	"context"
	"strings"
	"testing"

	"github.com/streamd/streamd/benchmarks/internal/harness"
)

// TestHostileSmoke runs every attack at Smoke sizes (about a second each)
// against every server with POST /upload, each attack on a fresh server
// process, and checks that the run worked: a baseline, samples, every
// client accounted for, the legal chunked upload answered correctly, the
// server alive. It asserts no memory figures and no timings.
func TestHostileSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs server binaries")
	}
	root, err := harness.Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, s := range harness.Servers(root) {
		// Variants (nbio-inline) share their server's upload code: skip them.
		if !s.Has(harness.CapUpload) || s.Pkg != s.Name {
			continue
		}
		t.Run(s.Name, func(t *testing.T) {
			if !s.Present {
				t.Skipf("no servers/%s/main.go", s.Name)
			}
			bins, err := harness.Build(context.Background(), root, dir, map[string]string{s.Name: s.Package()})
			if err != nil {
				t.Fatal(err)
			}
			var results []Result
			for _, a := range Attacks() {
				t.Run(a.Name, func(t *testing.T) {
					p, err := harness.StartServer(s.Name, bins[s.Name], -1, 1)
					if err != nil {
						t.Fatal(err)
					}
					defer p.Stop()
					r := Run(a, Target{Addr: p.Addr, PID: p.PID(), Kill: p.Kill, Alive: p.Alive}, Smoke)
					r.Server = s.Name
					results = append(results, r)
					if r.Err != "" {
						t.Fatalf("run: %s", r.Err)
					}
					if r.RSSBeforeKiB <= 0 || len(r.Samples) < 2 || r.AfterKiB <= 0 {
						t.Errorf("baseline %d KiB, %d samples, after %d KiB; want a baseline, samples and an after reading",
							r.RSSBeforeKiB, len(r.Samples), r.AfterKiB)
					}
					if len(r.Probes) == 0 {
						t.Errorf("no responsiveness probe ran")
					}
					if r.Sent <= 0 {
						t.Errorf("the attack sent nothing")
					}
					want := map[string]int{Pipeliner: Smoke.Pipeliners, ChunkAmp: Smoke.ChunkClients,
						ChunkAmp15: Smoke.ChunkClients, SlowBodies: Smoke.SlowClients}[a.Name]
					if len(r.Clients) != want {
						t.Errorf("%d client outcomes; want %d", len(r.Clients), want)
					}
					for i, c := range r.Clients {
						if c.Outcome == "" || strings.HasPrefix(c.Outcome, "dial failed") {
							t.Errorf("client %d: outcome %q (%s)", i, c.Outcome, c.Err)
						}
						// Every server parses 15-digit chunk sizes (the
						// 16-digit attack is refused by fasthttp).
						if a.Name == ChunkAmp15 && c.Outcome != "answered 200, length right" {
							t.Errorf("client %d: %s %s; want answered 200, length right", i, c.Outcome, c.Err)
						}
					}
					if !p.Alive() {
						t.Errorf("server died: %s", p.Output())
					}
				})
			}
			t.Logf("\n%s", Table(results))
		})
	}
}
