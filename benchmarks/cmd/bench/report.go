package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/streamd/streamd/benchmarks/internal/harness"
)

// Row is one server's runs of one scenario (in one variant).
type Row struct {
	Server  string
	Variant Variant
	Runs    []Figures
	Info    []RunInfo // Info[i] describes Runs[i]
	Notes   []string
	Err     string
}

// Label names the row in tables: the server, and its variant if any.
func (r *Row) Label() string {
	if v := r.Variant.String(); v != "" {
		return r.Server + " (" + v + ")"
	}
	return r.Server
}

// RunInfo is what the raw data records about one run besides its figures.
type RunInfo struct {
	Repeat  int       `json:"repeat"` // 1-based; servers interleave within a repeat
	Started time.Time `json:"started"`
	Load    string    `json:"load"` // 1/5/15-minute load average as the run started
	Server  []string  `json:"server_cmd,omitempty"`
	Note    string    `json:"note,omitempty"`
}

// Variant is how a row's server runs when it differs from the run's
// default (pinned to CPU 0 with -loops 1): the scaling scenarios run the
// same server with 1 loop pinned, 1 loop unpinned and 2 loops unpinned.
type Variant struct {
	Loops    int  `json:"loops,omitempty"`    // -loops; 0: the run's default
	Unpinned bool `json:"unpinned,omitempty"` // server, load and driver share every CPU
}

// String describes v for a table ("" for the default).
func (v Variant) String() string {
	if v == (Variant{}) {
		return ""
	}
	s := "default loops"
	if v.Loops == 1 {
		s = "1 loop"
	} else if v.Loops > 1 {
		s = fmt.Sprintf("%d loops", v.Loops)
	}
	if v.Unpinned {
		return s + ", unpinned"
	}
	return s + ", pinned"
}

// ScenarioResult is one scenario over all servers.
type ScenarioResult struct {
	Scenario
	Rows  []*Row
	Param string
}

func runScenario(e *Env, sc Scenario) *ScenarioResult {
	res := &ScenarioResult{Scenario: sc, Param: scenarioParam(e.plan, strings.TrimPrefix(sc.Name, "scaling-"))}
	variants := sc.Variants
	if variants == nil {
		variants = []Variant{{}}
	}
	var rows []*Row
	var servers []harness.ServerInfo
	for _, s := range e.servers {
		base, _, _ := strings.Cut(s.Name, "@") // a -baseline build runs where its server runs
		if !s.Has(sc.Cap) || (sc.Servers != nil && !slices.Contains(sc.Servers, base)) {
			continue
		}
		for _, v := range variants {
			r := &Row{Server: s.Name, Variant: v}
			if !s.Present {
				r.Err = "skipped: no servers/" + s.Name + "/main.go"
			} else if be := e.buildErr[s.Name]; be != "" {
				r.Err = be
			}
			rows = append(rows, r)
			servers = append(servers, s)
		}
	}
	for rep := range e.plan.Repeats {
		for i, s := range servers {
			r := rows[i]
			if !s.Present || r.Err != "" {
				continue
			}
			info := RunInfo{Repeat: rep + 1, Started: time.Now().UTC(), Load: loadavg()}
			logf("%s: %s (run %d/%d) load %s", sc.Name, r.Label(), rep+1, e.plan.Repeats, info.Load)
			f, cmd, note, err := runOnce(e, sc, s, r.Variant)
			if err != nil {
				r.Err = err.Error()
				logf("%s: %s: ERROR %v", sc.Name, r.Label(), err)
				continue
			}
			info.Server, info.Note = cmd, note
			r.Runs = append(r.Runs, f)
			r.Info = append(r.Info, info)
			if note != "" && !slices.Contains(r.Notes, note) {
				r.Notes = append(r.Notes, note)
			}
			logf("%s: %s: %s %s", sc.Name, r.Label(), fmtFigures(sc, f), note)
		}
	}
	res.Rows = rows
	return res
}

// runOnce starts a fresh server process for one run of sc in variant v and
// returns the figures, the server's command line and a note.
func runOnce(e *Env, sc Scenario, s harness.ServerInfo, v Variant) (Figures, []string, string, error) {
	ev := e.withVariant(v)
	if v.Unpinned {
		// The driver (fan-out publisher, result collection) shares the
		// CPUs with everything else, as the load does.
		e.pinDriver(fmt.Sprintf("0-%d", runtime.NumCPU()-1))
		defer e.pinDriver(strconv.Itoa(e.clientCPU))
	}
	var p *harness.Proc
	var err error
	if sc.TLS {
		ev.tlsOn = true
		ev.heapFile = filepath.Join(e.tmp, "heap-"+s.Name+".json")
		args := append(append(e.cert.ServerArgs(), "-heap-file", ev.heapFile), s.Args...)
		p, err = harness.StartServerTLS(s.Name, e.bins[s.Name], ev.serverCPU, ev.loops, e.cert.Client(false), args...)
	} else {
		p, err = harness.StartServer(s.Name, e.bins[s.Name], ev.serverCPU, ev.loops, s.Args...)
	}
	if err != nil {
		return nil, nil, "", err
	}
	defer p.Stop()
	f, note, err := sc.Run(ev, s, p)
	if err == nil && !p.Alive() {
		err = fmt.Errorf("server exited during the run: %.300s", p.Output())
	}
	cmd := slices.Clone(p.Args)
	for i, a := range cmd {
		if strings.HasPrefix(a, e.tmp+string(filepath.Separator)) {
			cmd[i] = filepath.Base(a) // the build's temp dir says nothing
		}
	}
	return f, cmd, note, err
}

func scenarioParam(p Plan, name string) string {
	switch name {
	case "plaintext-keepalive", "plaintext-pipelined":
		return fmt.Sprintf("%s measured after %s warm-up", p.PlainDur, p.PlainWarm)
	case "sse-idle", "ws-idle":
		return fmt.Sprintf("N = %d", p.IdleConns)
	case "fanout", "fanout-ws":
		return fmt.Sprintf("N = %d subscribers, K = %d measured publishes (after %d warm-up), 64-byte payload", p.FanoutConns, p.FanoutPubs, p.FanoutWarm)
	case "ws-echo":
		return fmt.Sprintf("N = %d conns, %s measured after %s warm-up", p.EchoConns, p.EchoDur, p.Warm)
	case "chunked":
		return fmt.Sprintf("%s measured after %s warm-up", p.ChunkDur, p.Warm)
	case "tls-sse-idle":
		return fmt.Sprintf("N = %d", p.IdleConns)
	case "tls-handshake", "tls-resume":
		return fmt.Sprintf("W = %d workers, %s measured after %s warm-up", p.EchoConns, p.EchoDur, p.Warm)
	case "tls-keepalive", "tls-pipelined":
		return fmt.Sprintf("%s measured after %s warm-up", p.PlainDur, p.PlainWarm)
	case "tls-chunked":
		return fmt.Sprintf("%s measured after %s warm-up", p.ChunkDur, p.Warm)
	case "tls-fanout":
		return fmt.Sprintf("N = %d subscribers, K = %d measured publishes (after %d warm-up), 64-byte payload", p.FanoutConns, p.FanoutPubs, p.FanoutWarm)
	}
	return ""
}

func fmtFigures(sc Scenario, f Figures) string {
	var b strings.Builder
	for _, c := range sc.Columns {
		if v, ok := f[c.Key]; ok {
			fmt.Fprintf(&b, "%s=%s ", c.Label, fmtNum(v, c.Digits))
		}
	}
	return b.String()
}

func fmtNum(v float64, digits int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	s := strconv.FormatFloat(v, 'f', digits, 64)
	if digits == 0 && math.Abs(v) >= 1000 { // thousands separators
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		var out []byte
		for i := range len(s) {
			if i > 0 && (len(s)-i)%3 == 0 {
				out = append(out, ',')
			}
			out = append(out, s[i])
		}
		s = string(out)
		if neg {
			s = "-" + s
		}
	}
	return s
}

// median and spread ((max−min)/median) of key over runs.
func stats(runs []Figures, key string) (med, spread float64, ok bool) {
	var v []float64
	for _, r := range runs {
		if x, has := r[key]; has {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return 0, 0, false
	}
	slices.Sort(v)
	med = v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	if med != 0 {
		spread = (v[len(v)-1] - v[0]) / math.Abs(med)
	}
	return med, spread, true
}

func (r *ScenarioResult) medians() map[string]Figures {
	out := map[string]Figures{}
	for _, row := range r.Rows {
		if len(row.Runs) == 0 {
			continue
		}
		f := Figures{}
		for _, c := range r.Columns {
			if m, _, ok := stats(row.Runs, c.Key); ok {
				f[c.Key] = m
			}
		}
		out[row.Label()] = f
	}
	return out
}

// --- targets ---

func judgeRatio(key, peer string, factor float64, lowerBetter bool) func(map[string]Figures) (string, bool, bool) {
	return func(med map[string]Figures) (string, bool, bool) {
		s, ok1 := med["streamd"][key]
		p, ok2 := med[peer][key]
		if !ok1 || !ok2 || p == 0 {
			return fmt.Sprintf("vs %s: not measured", peer), false, false
		}
		ratio := s / p
		met := ratio >= factor
		if lowerBetter {
			ratio = p / s
			met = ratio >= factor
		}
		return fmt.Sprintf("%.2f× %s (need ≥ %.1f×)", ratio, peer, factor), met, true
	}
}

func judgeAll(js ...func(map[string]Figures) (string, bool, bool)) func(map[string]Figures) (string, bool, bool) {
	return func(med map[string]Figures) (string, bool, bool) {
		var parts []string
		met, ok := true, true
		for _, j := range js {
			v, m, o := j(med)
			parts = append(parts, v)
			met = met && m
			ok = ok && o
		}
		return strings.Join(parts, "; "), met, ok
	}
}

func judgeAbs(key string, limit float64, lowerBetter bool, unit string) func(map[string]Figures) (string, bool, bool) {
	return func(med map[string]Figures) (string, bool, bool) {
		s, ok := med["streamd"][key]
		if !ok {
			return "not measured", false, false
		}
		met := s >= limit
		op := "≥"
		if lowerBetter {
			met, op = s <= limit, "≤"
		}
		return fmt.Sprintf("%.2f %s (need %s %.2f)", s, unit, op, limit), met, true
	}
}

func judgeFanout(med map[string]Figures) (string, bool, bool) {
	s, ok := med["streamd"]
	if !ok {
		return "not measured", false, false
	}
	best, bestName := math.Inf(1), ""
	for name, f := range med {
		if name == "streamd" || harness.IsCeiling(name) || harness.IsOwn(name) {
			continue
		}
		if v, ok := f["p99"]; ok && v < best {
			best, bestName = v, name
		}
	}
	all := s["delivered"] >= 100
	v := fmt.Sprintf("delivered %.2f%%", s["delivered"])
	if bestName == "" {
		return v + "; no peer measured", false, false
	}
	ratio := s["p99"] / best
	v += fmt.Sprintf("; p99 %s µs = %.2f× best peer %s (%s µs; need ≤ 0.33×)", fmtNum(s["p99"], 0), ratio, bestName, fmtNum(best, 0))
	return v, all && ratio <= 1.0/3, true
}

// --- report ---

// Report is the whole run.
type Report struct {
	Plan               Plan
	Command            string
	Flags              []FlagValue
	Code               string // git describe --always, "-dirty" if the code differs (gitDescribe)
	Commit             string // full hash of HEAD
	Baseline           string // -baseline: full hash the @ servers were built from
	Started            time.Time
	Elapsed            time.Duration
	Pinned             bool
	LoadStart, LoadEnd string
	Machine            Machine
	Servers            []ServerNote
	Scenarios          []*ScenarioResult
	Skipped            []string
	Partial            bool // more scenarios still running
}

// ServerNote is a server of the run and what it is.
type ServerNote struct {
	Name string `json:"name"`
	Note string `json:"note"`
}

// rawPath is where the raw data of a report written to outPath goes:
// results/run-<git describe>.json beside it.
func (rep *Report) rawPath(outPath string) string {
	return filepath.Join(filepath.Dir(outPath), "results", "run-"+rep.Code+".json")
}

// writeAll writes the raw data, then the report and its charts rendered
// from it; for the committed RESULTS.md it also regenerates the README's
// headline table.
func (rep *Report) writeAll(root, outPath string) error {
	raw := rep.rawPath(outPath)
	if err := writeRunFile(raw, rep); err != nil {
		return err
	}
	return rep.render(root, outPath, raw)
}

// render writes the report (and for the committed RESULTS.md the README
// headline) linking the raw data file raw, which it does not touch.
func (rep *Report) render(root, outPath, raw string) error {
	if err := rep.Write(outPath, raw); err != nil {
		return err
	}
	if outPath != filepath.Join(root, "RESULTS.md") {
		return nil
	}
	readme := filepath.Join(filepath.Dir(root), "README.md")
	if err := writeHeadline(readme, rep, outPath, raw); err != nil {
		// The report stands without it; say so loudly.
		logf("warning: README headline not updated: %v", err)
	}
	return nil
}

// loadNoisy reports whether a load average string (first field: 1 minute)
// says other work was running.
func loadNoisy(load string) bool {
	l, _ := strconv.ParseFloat(strings.Fields(load + " 0")[0], 64)
	return l > 0.5
}

// loadRange returns the lowest and highest 1-minute load average at the
// start of the scenario's runs.
func (sr *ScenarioResult) loadRange() (lo, hi float64, ok bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, row := range sr.Rows {
		for _, in := range row.Info {
			l, err := strconv.ParseFloat(strings.Fields(in.Load + " x")[0], 64)
			if err != nil {
				continue
			}
			lo, hi, ok = min(lo, l), max(hi, l), true
		}
	}
	return lo, hi, ok
}

// Write renders the report to outPath and its charts to charts/ beside it;
// rawPath is the raw data file it links.
func (rep *Report) Write(outPath, rawPath string) error {
	chartDir := filepath.Join(filepath.Dir(outPath), "charts")
	if err := os.MkdirAll(chartDir, 0o755); err != nil {
		return err
	}
	rawRel, err := filepath.Rel(filepath.Dir(outPath), rawPath)
	if err != nil {
		rawRel = rawPath
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("<!-- Generated by `go run ./cmd/bench`. Regenerated on every run: do not edit by hand. -->\n\n")
	w("# streamd benchmark results\n\n")
	if rep.Partial {
		w("> **Partial:** the run was still going when this was written; later scenarios are missing.\n\n")
	}
	w("_This file is generated by the benchmark driver (`benchmarks/cmd/bench`) from the raw data it links; edits are overwritten._\n\n")
	w("- **Code:** `%s` (`git describe --always`, `-dirty` if code differs from it; commit %s): the streamd library and the benchmark servers as of that commit", rep.Code, rep.Commit)
	if strings.HasSuffix(rep.Code, "-dirty") {
		w(" **plus uncommitted changes**")
	}
	w("\n")
	if rep.Baseline != "" {
		w("- **Baseline:** rows named `<server>@<rev>` run the same server built from commit %s (library included), interleaved with the current build (`-baseline`)\n", rep.Baseline)
	}
	w("- **Date:** %s (took %s)\n", rep.Started.UTC().Format("2006-01-02 15:04 MST"), rep.Elapsed.Round(time.Second))
	w("- **Command:** `%s` (from `benchmarks/`)\n", rep.Command)
	w("- **Flags:** %s\n", fmtFlags(rep.Flags))
	w("- **Machine:** %s, %d cores, Linux %s\n", rep.Machine.CPU, rep.Machine.Cores, rep.Machine.Kernel)
	w("- **Go:** %s\n", rep.Machine.Go)
	w("- **Plan:** %s — %d run(s) per scenario and server, servers interleaved within each round, median reported; spread = (max − min) / median\n", rep.Plan.Name, rep.Plan.Repeats)
	if rep.Pinned {
		w("- **Pinning:** server on CPU 0 (`taskset -c 0`, `-loops 1`); wrk, load clients and driver on CPU 1 (`taskset -c 1`), unless a row says otherwise (scaling). A fresh server process per scenario run.\n")
	} else {
		w("- **Pinning:** none (server and load share all CPUs); efficiency figures are less meaningful.\n")
	}
	w("- **Load average** (1/5/15 min) at start: %s, at end: %s", rep.LoadStart, rep.LoadEnd)
	if loadNoisy(rep.LoadStart) || loadNoisy(rep.LoadEnd) {
		w(" — **other work was running on the machine; treat figures as noisy**")
	}
	w("\n- **Raw data:** [`%s`](%s): every run's figures (not only the medians below), its load average, start time and server command line; `go run ./cmd/bench -render` of that file re-renders this report\n", rawRel, rawRel)
	w("- **Servers:**")
	for _, k := range rep.Servers {
		w(" `%s` (%s);", k.Name, k.Note)
	}
	w("\n")
	if len(rep.Skipped) > 0 {
		w("- **Skipped (no main.go yet):** %s\n", strings.Join(rep.Skipped, ", "))
	}
	w("\nServer efficiency = requests (or messages, or MB) per CPU-second of the server process, from its CPU-time clock (`clock_getcpuclockid`, ns) before and after the measured interval; DESIGN §7 targets compare efficiency unless they say throughput.\n")
	if err := rep.writeScenarios(&b, chartDir, "##"); err != nil {
		return err
	}
	w("\n## Hostile clients (issue 8)\n\nWhat one attacking client makes each server hold (non-reading pipeliner, chunk amplification, slow bodies), as RSS beside fasthttp, net/http and nbio: generated by `go run ./cmd/bench -hostile` into [HOSTILE.md](HOSTILE.md), with its own command, commit, load average and raw data.\n")
	// The cluster section is written by -cluster runs and the TLS section
	// by -tls runs, not by this one: keep them as they are.
	if old, err := os.ReadFile(outPath); err == nil {
		if cs := clusterSection(old); cs != "" {
			w("\n%s", cs)
		}
		if sec := tlsSection(old); sec != nil {
			b.WriteString("\n")
			b.Write(sec)
			b.WriteString("\n")
		}
		if sec := markedSection(old, nethttpStart, nethttpEnd); sec != nil {
			b.WriteString("\n")
			b.Write(sec)
			b.WriteString("\n")
		}
	}
	return os.WriteFile(outPath, []byte(b.String()), 0o644)
}

// The "net/http backend" section of RESULTS.md (issue 12) is written by
// hand from a subset run's raw data (results/nethttp-backend-*.json, its
// command in the section); a -full run keeps it as it is.
const (
	nethttpStart = "<!-- bench:nethttp:start (written from a subset run's raw data it links; a -full run keeps this section) -->"
	nethttpEnd   = "<!-- bench:nethttp:end -->"
)

// markedSection returns the part of doc from start to end, both markers
// included, or nil.
func markedSection(doc []byte, start, end string) []byte {
	i := bytes.Index(doc, []byte(start))
	j := bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		return nil
	}
	return doc[i : j+len(end)]
}

// writeScenarios renders each scenario's table, target and charts under a
// heading of level h ("##"), its charts into chartDir.
func (rep *Report) writeScenarios(b *strings.Builder, chartDir, h string) error {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	scalingSeen := false
	for _, sr := range rep.Scenarios {
		w("\n%s %s\n\n%s %s.", h, sr.Title, sr.What, sr.Param)
		if lo, hi, ok := sr.loadRange(); ok {
			w(" Load average (1 min) as the runs started: %.2f–%.2f.", lo, hi)
			if hi > 0.5 {
				w(" **Noisy.**")
			}
		}
		w("\n\n")
		if sr.Variants != nil {
			writeScaling(b, sr, rep.Pinned, !scalingSeen)
			scalingSeen = true
			continue
		}
		med := sr.medians()
		base, hasBase := med["streamd"][sr.Primary]
		w("| server |")
		for _, c := range sr.Columns {
			w(" %s |", c.Label)
		}
		primLabel := sr.Primary
		for _, c := range sr.Columns {
			if c.Key == sr.Primary {
				primLabel = c.Label
			}
		}
		w(" %s ÷ streamd | spread | notes |\n|---|", primLabel)
		for range sr.Columns {
			w("---:|")
		}
		w("---:|---:|---|\n")
		for _, row := range sr.Rows {
			w("| %s |", row.Label())
			if len(row.Runs) == 0 {
				for range sr.Columns {
					w(" — |")
				}
				w(" — | — | %s |\n", mdEscape(row.Err))
				continue
			}
			for _, c := range sr.Columns {
				m, _, ok := stats(row.Runs, c.Key)
				if !ok {
					w(" — |")
					continue
				}
				w(" %s |", fmtNum(m, c.Digits))
			}
			ratio := "n/a"
			if m, _, ok := stats(row.Runs, sr.Primary); ok && hasBase && base != 0 {
				ratio = fmt.Sprintf("%.2f", m/base)
			}
			spreadS := "—"
			if _, spread, _ := stats(row.Runs, sr.Primary); len(row.Runs) > 1 {
				spreadS = fmt.Sprintf("%.0f%%", 100*spread)
			}
			notes := joinNotes(row.Notes)
			if row.Err != "" {
				notes = strings.TrimPrefix(notes+"; error: "+row.Err, "; ")
			}
			w(" %s | %s | %s |\n", ratio, spreadS, mdEscape(notes))
		}
		w("\n**Target (DESIGN §7):** %s", sr.Target)
		if sr.Judge != nil {
			v, met, ok := sr.Judge(med)
			switch {
			case !ok:
				w(" — streamd: **not measured** (%s)\n", v)
			case met:
				w(" — streamd: **met** — %s\n", v)
			default:
				w(" — streamd: **not met** — %s\n", v)
			}
		} else {
			w("\n")
		}
		if ps := sr.ProfileSummary(med); ps != "" {
			w("\n%s\n", ps)
		}
		if svg := chartFor(sr, med); svg != "" {
			name := sr.Name + ".svg"
			if err := os.WriteFile(filepath.Join(chartDir, name), []byte(svg), 0o644); err != nil {
				return err
			}
			w("\n![%s](charts/%s)\n", sr.Title, name)
		}
		if sr.Name == "fanout" || sr.Name == "fanout-ws" {
			if svg := latencyChart(sr, med); svg != "" {
				name := sr.Name + "-latency.svg"
				if err := os.WriteFile(filepath.Join(chartDir, name), []byte(svg), 0o644); err != nil {
					return err
				}
				w("\n![%s latency](charts/%s)\n", sr.Title, name)
			}
		}
	}
	return nil
}

// fmtFlags lists every flag with its value; those given on the command
// line in bold.
func fmtFlags(fs []FlagValue) string {
	var parts []string
	for _, f := range fs {
		s := fmt.Sprintf("`-%s=%s`", f.Name, f.Value)
		if f.Set {
			s = "**" + s + "**"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, " ") + " (bold: given on the command line; the rest are defaults)"
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(s, "\n", " ")
}

// joinNotes joins a row's notes, each "; "-separated part once (runs after
// the first repeat the parts they share with it, such as a client's
// negotiated TLS parameters).
func joinNotes(notes []string) string {
	var parts []string
	for _, n := range notes {
		for _, p := range strings.Split(n, "; ") {
			if p != "" && !slices.Contains(parts, p) {
				parts = append(parts, p)
			}
		}
	}
	return strings.Join(parts, "; ")
}
