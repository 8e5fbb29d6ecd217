package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/streamd/streamd/benchmarks/internal/harness"
)

func scenarioByName(t *testing.T, name string) Scenario {
	t.Helper()
	for _, sc := range knownScenarios() {
		if sc.Name == name {
			return sc
		}
	}
	t.Fatalf("no scenario %q", name)
	return Scenario{}
}

// testReport is a small report with a plain scenario and a scaling one.
func testReport(t *testing.T) *Report {
	t.Helper()
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	info := func(i int) RunInfo {
		return RunInfo{Repeat: i, Started: start.Add(time.Duration(i) * time.Minute), Load: "0.20 0.30 0.40", Server: []string{"streamd", "-addr", "127.0.0.1:1", "-loops", "1"}}
	}
	chunked := &ScenarioResult{Scenario: scenarioByName(t, "chunked"), Param: "5s measured after 1s warm-up"}
	chunked.Rows = []*Row{
		{Server: "streamd", Runs: []Figures{{"mbps": 1500, "eff": 1600, "cpu": 93}, {"mbps": 1700, "eff": 1750, "cpu": 95}, {"mbps": 1600, "eff": 1700, "cpu": 94}}, Info: []RunInfo{info(1), info(2), info(3)}},
		{Server: "rawsock", Runs: []Figures{{"mbps": 1800, "eff": 2000, "cpu": 90}, {"mbps": 1900, "eff": 2100, "cpu": 91}, {"mbps": 2000, "eff": 2200, "cpu": 90}}, Info: []RunInfo{info(1), info(2), info(3)}, Notes: []string{"a note"}},
		{Server: "nbio", Err: "build failed: boom"},
	}
	scaling := &ScenarioResult{Scenario: scenarioByName(t, "scaling-plaintext-keepalive"), Param: "5s measured after 1s warm-up"}
	for _, v := range scaling.Variants {
		rps := 70000.0
		if v.Loops == 2 {
			rps = 100000
		}
		scaling.Rows = append(scaling.Rows, &Row{Server: "streamd", Variant: v,
			Runs: []Figures{{"rps": rps, "eff": 80000, "cpu": 90}}, Info: []RunInfo{info(1)}})
	}
	return &Report{Plan: quickPlan, Command: "go run ./cmd/bench -quick", Flags: []FlagValue{{Name: "quick", Value: "true", Set: true}, {Name: "out", Value: ""}},
		Code: "abc1234", Commit: strings.Repeat("a", 40), Started: start, Elapsed: 95 * time.Second, Pinned: true,
		LoadStart: "0.20 0.30 0.40", LoadEnd: "0.25 0.30 0.40", Machine: Machine{CPU: "Test CPU", Kernel: "6.0", Go: "go1.26 linux/amd64", Cores: 2},
		Servers: []ServerNote{{Name: "streamd", Note: "this project"}, {Name: "rawsock", Note: "ceiling"}}, Scenarios: []*ScenarioResult{chunked, scaling}}
}

// The report rendered from the raw data file is the report the run wrote:
// RESULTS.md holds nothing the JSON does not.
func TestRenderFromRawData(t *testing.T) {
	rep := testReport(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	root := t.TempDir() // not dirA: no README headline
	outA := filepath.Join(dirA, "RESULTS.md")
	if err := rep.writeAll(root, outA); err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(dirA, "results", "run-abc1234.json")
	back, err := readRunFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	// The same layout elsewhere: the links are relative, so the files match.
	if err := os.MkdirAll(filepath.Join(dirB, "results"), 0o755); err != nil {
		t.Fatal(err)
	}
	outB := filepath.Join(dirB, "RESULTS.md")
	if err := back.Write(outB, filepath.Join(dirB, "results", "run-abc1234.json")); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(outA)
	b, _ := os.ReadFile(outB)
	if string(a) != string(b) {
		t.Errorf("re-rendered report differs from the original:\n--- original\n%s\n--- re-rendered\n%s", a, b)
	}
	for _, want := range []string{"`abc1234`", "**`-quick=true`**", "`-out=`", "0.20 0.30 0.40", "[`results/run-abc1234.json`](results/run-abc1234.json)",
		"| streamd | 1,600 | 1,700 | 94 | — | — | 1.00 | 12% |", "build failed: boom", "streamd**: req/s 1.43×"} {
		if !strings.Contains(string(a), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, chart := range []string{"chunked.svg"} {
		if _, err := os.Stat(filepath.Join(dirB, "charts", chart)); err != nil {
			t.Errorf("chart not written: %v", err)
		}
	}
}

func TestReportPath(t *testing.T) {
	root := t.TempDir()
	tests := []struct {
		name   string
		out    string
		outSet bool
		full   bool
		want   string // relative to root; "" = error
	}{
		{"quick default", "", false, false, "out/RESULTS.md"},
		{"full default", "", false, true, "RESULTS.md"},
		{"quick onto the committed file", "RESULTS.md", true, false, ""},
		{"quick onto the committed file, absolute", filepath.Join(root, "RESULTS.md"), true, false, ""},
		{"quick onto the committed file, roundabout", "out/../RESULTS.md", true, false, ""},
		{"quick elsewhere", "/tmp/r/RESULTS.md", true, false, "/tmp/r/RESULTS.md"},
		{"full elsewhere", "x/R.md", true, true, "x/R.md"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := reportPath(root, tt.out, tt.outSet, tt.full)
			if tt.want == "" {
				if err == nil {
					t.Errorf("reportPath(%q, full=%v) = %q; want an error", tt.out, tt.full, got)
				}
				return
			}
			want := tt.want
			if !filepath.IsAbs(want) {
				want = filepath.Join(root, want)
			}
			if err != nil || got != want {
				t.Errorf("reportPath(%q, full=%v) = %q, %v; want %q", tt.out, tt.full, got, err, want)
			}
		})
	}
}

func TestReplaceHeadline(t *testing.T) {
	doc := "# T\n\nbefore\n" + headlineStart + " old -->\nold table\n" + headlineEnd + "\nafter\n"
	section := headlineStart + " new -->\nnew table\n" + headlineEnd + "\n"
	got, err := replaceHeadline([]byte(doc), section)
	if err != nil {
		t.Fatal(err)
	}
	want := "# T\n\nbefore\n" + section + "after\n"
	if string(got) != want {
		t.Errorf("replaceHeadline = %q; want %q", got, want)
	}
	if _, err := replaceHeadline([]byte("no markers\n"), section); err == nil {
		t.Error("replaceHeadline without markers: no error")
	}
	if _, err := replaceHeadline([]byte(doc+doc), section); err == nil {
		t.Error("replaceHeadline with two sections: no error")
	}
}

func TestHeadlineFromReport(t *testing.T) {
	rep := testReport(t)
	h := renderHeadline(rep, "/repo", "/repo/benchmarks/RESULTS.md", "/repo/benchmarks/results/run-abc1234.json")
	for _, want := range []string{
		headlineStart, headlineEnd, "[benchmarks/RESULTS.md](benchmarks/RESULTS.md)", "benchmarks/results/run-abc1234.json",
		"| Chunked download throughput | 1,600 MB/s ± 12% | rawsock 1.19 ± 11%, nbio — |",
		"**met** (0.84× rawsock",
		"load on the same 2 cores: req/s 1.43×, per server CPU-s 1.00× | gnetraw: not measured |",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("headline lacks %q:\n%s", want, h)
		}
	}
	rep.LoadStart = "3.10 2.00 1.00"
	if h := renderHeadline(rep, "/repo", "/repo/benchmarks/RESULTS.md", "/repo/benchmarks/results/run-abc1234.json"); !strings.Contains(h, "**Noisy:**") {
		t.Errorf("headline of a loaded machine lacks the noise warning:\n%s", h)
	}
}

var rawLink = regexp.MustCompile(`\*\*Raw data:\*\* \[` + "`" + `([^` + "`" + `]+)` + "`" + `\]`)

// The README's headline section exists once, and once RESULTS.md links its
// raw data, it is what that data renders to.
func TestREADMEHeadlineMatchesResults(t *testing.T) {
	root, err := harness.Root()
	if err != nil {
		t.Fatal(err)
	}
	readme := filepath.Join(filepath.Dir(root), "README.md")
	doc, err := os.ReadFile(readme)
	if err != nil {
		t.Skipf("no README beside benchmarks/: %v", err)
	}
	got, err := headlineSection(doc)
	if err != nil {
		t.Fatalf("%s: %v (the -full run regenerates the table between the markers)", readme, err)
	}
	if strings.Count(string(doc), headlineStart) != 1 {
		t.Fatalf("%s: %d headline sections; want 1", readme, strings.Count(string(doc), headlineStart))
	}
	results, err := os.ReadFile(filepath.Join(root, "RESULTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := rawLink.FindSubmatch(results)
	if m == nil {
		t.Skip("RESULTS.md predates raw data files: the README section is hand-copied until the next -full run")
	}
	raw := filepath.Join(root, string(m[1]))
	rep, err := readRunFile(raw)
	if err != nil {
		t.Fatalf("RESULTS.md links %s: %v", m[1], err)
	}
	want := renderHeadline(rep, filepath.Dir(readme), filepath.Join(root, "RESULTS.md"), raw)
	if got != want {
		t.Errorf("README headline differs from what %s renders to; run go run ./cmd/bench -render %s -out RESULTS.md\n--- README\n%s\n--- rendered\n%s", m[1], m[1], got, want)
	}
}

// A -full run's report keeps the hand-written net/http backend section,
// after the TLS section.
func TestNetHTTPSectionKept(t *testing.T) {
	tls := tlsStart + "\n\n## TLS\n\nfigures\n\n" + tlsEnd
	sec := nethttpStart + "\n\n## net/http backend\n\nfigures\n\n" + nethttpEnd
	doc := []byte("# results\n\nold\n\n" + tls + "\n\n" + sec + "\n")
	if got := string(markedSection(doc, nethttpStart, nethttpEnd)); got != sec {
		t.Fatalf("markedSection = %q; want %q", got, sec)
	}
	if got := markedSection([]byte("# r\n"), nethttpStart, nethttpEnd); got != nil {
		t.Fatalf("markedSection of a doc without one = %q", got)
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
	g := string(got)
	if !strings.Contains(g, sec) || strings.Contains(g, "\nold\n") || strings.Index(g, tls) > strings.Index(g, sec) {
		t.Errorf("rewritten report lost the net/http section, its order, or kept the old body:\n%s", got)
	}
}

// TestBenchOutputIsNotDirt: the driver's own output does not make a run's
// code "-dirty"; anything else does.
func TestBenchOutputIsNotDirt(t *testing.T) {
	for path, want := range map[string]bool{
		"README.md":                          true,
		"benchmarks/RESULTS.md":              true,
		"benchmarks/HOSTILE.md":              true,
		"benchmarks/charts/fanout.svg":       true,
		"benchmarks/results/run-abc.json":    true,
		"benchmarks/out/RESULTS.md":          true,
		"benchmarks/README.md":               false,
		"loop/yield.go":                      false,
		"benchmarks/servers/streamd/main.go": false,
		"benchmarks/go.mod":                  false,
		"benchmarks/resultsX/x.json":         false,
		"docs/README.md":                     false,
	} {
		if got := benchOutput(path); got != want {
			t.Errorf("benchOutput(%q) = %v; want %v", path, got, want)
		}
	}
}
