package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamd/streamd/benchmarks/internal/harness"
)

// TestTLSSmoke runs every TLS scenario at smoke size (tlsSmokePlan: tens of
// connections, sub-second intervals, not pinned) against streamd, net/http,
// nbio (its own TLS, the llib fork) and the TLS ceiling (in tls-keepalive and
// tls-pipelined only), checks that each row measured, and that the section re-renders
// from its raw data unchanged. It asserts no figures.
func TestTLSSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs server binaries")
	}
	root, err := harness.Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "RESULTS.md")
	if err := os.WriteFile(out, []byte("# results\n\nthe -full part\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	servers := map[string]bool{"streamd": true, "nethttp": true, "nbio": true, "gnetraw-tls": true}
	rep, err := runTLS(root, servers, nil, tlsSmokePlan, true, out)
	if err != nil {
		t.Fatal(err)
	}
	if bad := rep.failures(); len(bad) > 0 {
		t.Errorf("failed rows: %s", strings.Join(bad, "; "))
	}
	if len(rep.Scenarios) != len(tlsScenarios()) {
		t.Errorf("%d scenarios ran; want %d", len(rep.Scenarios), len(tlsScenarios()))
	}
	for _, sr := range rep.Scenarios {
		ceiling := false
		for _, r := range sr.Rows {
			if len(r.Runs) == 0 {
				t.Errorf("%s %s: no run", sr.Name, r.Label())
			}
			ceiling = ceiling || r.Server == "gnetraw-tls"
		}
		if want := sr.Floor == "gnetraw-tls"; ceiling != want {
			t.Errorf("%s: gnetraw-tls row present = %v; want %v", sr.Name, ceiling, want)
		}
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(doc), "# results\n\nthe -full part\n") {
		t.Errorf("the part before the TLS section changed:\n%.200s", doc)
	}
	for _, sc := range tlsScenarios() {
		if !strings.Contains(string(doc), "### "+sc.Title) {
			t.Errorf("section lacks %q", sc.Title)
		}
	}
	back, err := readRunFile(rep.tlsRawPath(out))
	if err != nil {
		t.Fatal(err)
	}
	if err := back.renderTLS(out, rep.tlsRawPath(out)); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(out)
	if string(again) != string(doc) {
		t.Errorf("re-rendered TLS section differs:\n--- run\n%s\n--- re-rendered\n%s", doc, again)
	}
}

// A -full run's report keeps the TLS section the file had, and a TLS run
// replaces only its own section.
func TestTLSSectionKept(t *testing.T) {
	sec := tlsStart + "\n\n## TLS\n\nfigures\n\n" + tlsEnd
	doc := []byte("# results\n\nold\n\n" + sec + "\n")
	if got := string(tlsSection(doc)); got != sec {
		t.Fatalf("tlsSection = %q; want %q", got, sec)
	}
	newSec := tlsStart + "\n\n## TLS\n\nnew figures\n\n" + tlsEnd + "\n"
	if got, want := string(spliceTLS(doc, []byte(newSec))), "# results\n\nold\n\n"+strings.TrimSuffix(newSec, "\n")+"\n"; got != want {
		t.Errorf("spliceTLS replaced to %q; want %q", got, want)
	}
	if got, want := string(spliceTLS([]byte("# r\n"), []byte(newSec))), "# r\n\n"+newSec; got != want {
		t.Errorf("spliceTLS appended to %q; want %q", got, want)
	}

	rep := testReport(t)
	out := filepath.Join(t.TempDir(), "RESULTS.md")
	if err := os.WriteFile(out, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rep.writeAll(t.TempDir(), out); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !strings.Contains(string(got), sec) || strings.Contains(string(got), "\nold\n") {
		t.Errorf("rewritten report lost the TLS section or kept the old body:\n%s", got)
	}
}
