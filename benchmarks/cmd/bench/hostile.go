package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/streamd/streamd/benchmarks/internal/harness"
	"github.com/streamd/streamd/benchmarks/internal/hostile"
)

// hostileTarget is one server configuration of the -hostile run.
type hostileTarget struct {
	Label   string
	Server  string
	Args    []string
	Attacks []string // nil: every attack
}

// hostileTargets are run in this order for every attack. The variants show
// what a configuration change does: streamd with a ReadTimeout shorter than
// the slow-body hold, and net/http holding the body the way streamd's
// c.Body(), fasthttp and nbio do.
var hostileTargets = []hostileTarget{
	{Label: "streamd", Server: "streamd"},
	{Label: "streamd -read-timeout 10s", Server: "streamd", Args: []string{"-read-timeout", "10s"}, Attacks: []string{hostile.SlowBodies}},
	{Label: "fasthttp", Server: "fasthttp"},
	{Label: "nethttp", Server: "nethttp"},
	{Label: "nethttp -upload readall", Server: "nethttp", Args: []string{"-upload", "readall"},
		Attacks: []string{hostile.ChunkAmp, hostile.ChunkAmp15, hostile.SlowBodies}},
	{Label: "nbio", Server: "nbio"},
}

// hostileServerNotes says how each server is configured for the run.
var hostileServerNotes = []string{
	"**streamd**: `loop.Config` defaults — ReadHeaderTimeout 10 s, ReadTimeout 60 s, HighWatermark 256 KiB (reading stops above it), " +
		"MaxPendingInput 256 KiB per connection, MaxBufferedInput 64 MiB server-wide (503 over it), body limit 1 MiB; `-loops 1`. " +
		"`/upload` answers `len(c.Body())`. Variant `-read-timeout 10s` sets ReadTimeout only.",
	"**fasthttp**: `fasthttp.Server` defaults as in the other scenarios (no ReadTimeout: fasthttp's default is unlimited; MaxRequestBodySize 4 MiB; " +
		"chunk sizes of at most 15 hex digits); GOMAXPROCS 1. `/upload` answers `len(ctx.PostBody())`.",
	"**nethttp**: `http.Server{ReadHeaderTimeout: 10 s}` as in the other scenarios (no ReadTimeout, net/http's default); GOMAXPROCS 1. " +
		"`/upload` streams the body through `io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 1 MiB))`, so it never holds a body; " +
		"variant `-upload readall` uses `io.ReadAll` instead, holding the whole body like the other three servers.",
	"**nbio**: `nbhttp.Engine` defaults (MaxWriteBufferSize 0 = unlimited output queue, MaxHTTPBodySize 0 = no body limit, ReadLimit 64 MiB) " +
		"except KeepaliveTime 1 h, set for the streaming scenarios (the read deadline between requests; no attack here lasts 120 s, the default); " +
		"one poller, GOMAXPROCS 1. nbhttp buffers the whole body before the handler runs; `/upload` reads it with `io.Copy` like net/http.",
}

// HostileReport is the -hostile run, as written to the JSON file.
type HostileReport struct {
	Command   string           `json:"command"`
	Code      string           `json:"code"` // git describe --always, "-dirty" if the code differs (gitDescribe)
	Note      string           `json:"note,omitempty"`
	Started   time.Time        `json:"started"`
	Elapsed   string           `json:"elapsed"`
	Machine   Machine          `json:"machine"`
	Pinned    bool             `json:"pinned"`
	LoadStart string           `json:"load_start"`
	LoadEnd   string           `json:"load_end"`
	Config    hostile.Config   `json:"config"`
	Results   []hostile.Result `json:"results"`
	Partial   bool             `json:"partial"`
}

func runHostile(root string, want map[string]bool, attacks map[string]bool, noPin, smoke bool, outPath, note string) {
	cfg := hostile.Full
	if smoke {
		cfg = hostile.Smoke
	}
	var todo []hostile.Attack
	for _, a := range hostile.Attacks() {
		if attacks == nil || attacks[a.Name] {
			todo = append(todo, a)
		}
	}
	servers := map[string]bool{}
	for _, t := range hostileTargets {
		if want == nil || want[t.Server] {
			servers[t.Server] = true
		}
	}
	env, err := setup(root, servers, noPin, false)
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(env.tmp)
	present := map[string]bool{}
	for _, s := range env.servers {
		present[s.Name] = s.Present && env.bins[s.Name] != ""
	}
	rep := &HostileReport{Command: commandLine(), Code: gitDescribe(root), Note: note, Started: time.Now(),
		Machine: machine(), Pinned: env.pinned, LoadStart: loadavg(), Config: cfg}
	jsonPath := filepath.Join(filepath.Dir(outPath), "results", "hostile-"+rep.Code+".json")
	write := func(partial bool) {
		rep.LoadEnd, rep.Elapsed, rep.Partial = loadavg(), time.Since(rep.Started).Round(time.Second).String(), partial
		if smoke {
			return
		}
		if err := writeHostile(rep, outPath, jsonPath); err != nil {
			fatalf("%v", err)
		}
	}
	for _, a := range todo {
		for _, t := range hostileTargets {
			if !servers[t.Server] || (t.Attacks != nil && !slices.Contains(t.Attacks, a.Name)) {
				continue
			}
			logf("hostile %s: %s (load %s)", a.Name, t.Label, loadavg())
			r := hostile.Result{Server: t.Label, Attack: a.Name}
			if !present[t.Server] {
				r.Err = "not built: " + env.buildErr[t.Server]
			} else if p, err := harness.StartServer(t.Server, env.bins[t.Server], env.serverCPU, env.loops, t.Args...); err != nil {
				r.Err = err.Error()
			} else {
				r = hostile.Run(a, hostile.Target{Addr: p.Addr, PID: p.PID(), Kill: p.Kill, Alive: p.Alive}, cfg)
				r.Server = t.Label
				r.Command = p.Args
				p.Stop()
				r.ServerOutput = strings.TrimSpace(p.Output())
			}
			rep.Results = append(rep.Results, r)
			logf("hostile %s: %s: before %.1f MiB, peak +%.1f MiB; %s; responsive %s %s", a.Name, t.Label,
				float64(r.RSSBeforeKiB)/1024, r.PeakGrowthMiB(), r.Summary, r.Responsive(), r.Err+r.Capped)
			write(true)
		}
	}
	write(false)
	if smoke {
		fmt.Print(hostile.Table(rep.Results))
		return
	}
	logf("wrote %s and %s in %s", outPath, jsonPath, rep.Elapsed)
}

func hostileNames() []string {
	var n []string
	for _, a := range hostile.Attacks() {
		n = append(n, a.Name)
	}
	return n
}

// gitDescribe names the code under test: `git describe --always`, plus
// "-dirty" when the working tree differs from that commit in anything but
// the benchmark's own output (benchOutput), which one mode's run leaves
// uncommitted before the next mode's starts.
func gitDescribe(root string) string {
	out, err := exec.Command("git", "-C", root, "describe", "--always").Output()
	if err != nil {
		return "unknown"
	}
	code := strings.TrimSpace(string(out))
	st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--no-renames").Output()
	if err != nil {
		return code + "-dirty"
	}
	for _, line := range strings.Split(string(st), "\n") {
		if len(line) > 3 && !benchOutput(line[3:]) {
			return code + "-dirty"
		}
	}
	return code
}

// benchOutput reports whether path (from the repository root, as git
// status prints it) is written by the benchmark driver: its reports,
// charts and raw data, and the README that carries its headline.
func benchOutput(path string) bool {
	switch path {
	case "README.md", "benchmarks/RESULTS.md", "benchmarks/HOSTILE.md":
		return true
	}
	for _, dir := range []string{"benchmarks/charts/", "benchmarks/results/", "benchmarks/out/"} {
		if strings.HasPrefix(path, dir) {
			return true
		}
	}
	return false
}

func writeHostile(rep *HostileReport, mdPath, jsonPath string) error {
	if err := os.MkdirAll(filepath.Dir(jsonPath), 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(jsonPath, append(js, '\n'), 0o644); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(mdPath), jsonPath)
	if err != nil {
		rel = jsonPath
	}
	cfg := rep.Config
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("<!-- Generated by `go run ./cmd/bench -hostile`. Regenerated on every run: do not edit by hand. -->\n\n")
	w("# Hostile clients: what they make a server hold\n\n")
	if rep.Partial {
		w("> **Partial:** the run was still going when this was written.\n\n")
	}
	w("_This file is generated by the benchmark driver (`benchmarks/cmd/bench -hostile`); edits are overwritten._\n\n")
	w("- **Code:** `%s` (`git describe --always`, `-dirty` if code differs from it: the streamd library and the benchmark servers as of that commit)\n", rep.Code)
	if rep.Note != "" {
		w("- **Note:** %s\n", rep.Note)
	}
	w("- **Date:** %s (took %s)\n", rep.Started.UTC().Format("2006-01-02 15:04 MST"), rep.Elapsed)
	w("- **Command:** `%s` (from `benchmarks/`)\n", rep.Command)
	w("- **Machine:** %s, nproc %d, Linux %s, %s\n", rep.Machine.CPU, rep.Machine.Cores, rep.Machine.Kernel, rep.Machine.Go)
	if rep.Pinned {
		w("- **Pinning:** server on CPU 0 (`taskset -c 0`, `-loops 1`); the attacking clients, probes and sampler (the driver) on CPU 1.\n")
	} else {
		w("- **Pinning:** none.\n")
	}
	w("- **Load average** (1/5/15 min) at start: %s, at end: %s", rep.LoadStart, rep.LoadEnd)
	if l, _ := strconv.ParseFloat(strings.Fields(rep.LoadStart + " 0")[0], 64); l > 0.5 {
		w(" — **other work was running on the machine (it is shared); CPU-bound figures such as bytes sent before a stall and probe latency are noisy, memory figures less so**")
	}
	w("\n- **Raw data:** [`%s`](%s): every RSS sample (each %s), every probe, every client's outcome, the config.\n\n", rel, rel, cfg.Sample)

	w("## Method\n\n")
	w("Every attack runs against a **fresh server process** per server. Before it, the same warm-up for all: `GET /hello` on 20 fresh connections, "+
		"256 pipelined on one, and two 64 KiB `POST /upload`s (Content-Length and chunked). After %s the server's `VmRSS` "+
		"(`/proc/PID/status`) is the baseline (**RSS before**). During the attack `VmRSS` is sampled every %s: **peak growth** is the highest sample "+
		"(during the attack or after it) minus the baseline; **at end of attack** is the last sample before the attacking connections close "+
		"(they are held open %s after the attack's clients stop: the plateau); **after close** is %s after they closed. "+
		"**Responsive**: a `GET /hello` on a fresh connection, at the start and every %s while the attack runs, answered with 200 within %s. "+
		"The probes run in the driver on CPU 1 beside the attacking clients, so a probe during a CPU-heavy send burst (the 200 MiB of slow bodies) "+
		"also waits for the client CPU: a slow probe there is not necessarily the server's doing. "+
		"Safety caps: a server passing %d MiB RSS has the attack stopped; passing %d MiB it is killed.\n\n",
		cfg.Settle, cfg.Sample, cfg.Hold, cfg.After, cfg.ProbeEvery, cfg.ProbeTimeout, cfg.SoftCapKiB>>10, cfg.HardCapKiB>>10)
	w("RSS is what the kernel sees. For Go servers it includes garbage not yet collected (GOGC=100: up to about twice the live heap) " +
		"and freed memory the runtime has not returned yet, measured the same way for all. Kernel socket buffers are not in RSS.\n\n")

	w("## Results\n\n")
	w("%s\n", hostile.Table(rep.Results))
	w("Client outcome: how many clients ended how, bytes each had sent, and when (seconds since the attack started).\n\n")

	w("### DESIGN §7 target: memory bounded by config, ≤ net/http's\n\n")
	for _, a := range hostile.Attacks() {
		s := findResult(rep.Results, a.Name, "streamd")
		if s == nil || s.Err != "" {
			continue
		}
		line := fmt.Sprintf("- **%s**: streamd peak growth %.1f MiB", a.Name, s.PeakGrowthMiB())
		for _, peer := range []string{"nethttp", "nethttp -upload readall"} {
			n := findResult(rep.Results, a.Name, peer)
			if n == nil || n.Err != "" {
				continue
			}
			verdict := "**no**"
			if s.PeakGrowthMiB() <= n.PeakGrowthMiB() {
				verdict = "yes"
			}
			line += fmt.Sprintf("; `%s` %.1f MiB → ≤ it: %s", peer, n.PeakGrowthMiB(), verdict)
		}
		w("%s\n", line)
	}
	w("\n")

	w("## Attacks\n\n")
	for _, a := range hostile.Attacks() {
		w("- **%s** (%s): %s\n", a.Name, a.Title, a.What(cfg))
	}
	w("\n## Server configuration\n\n")
	for _, n := range hostileServerNotes {
		w("- %s\n", n)
	}
	return os.WriteFile(mdPath, []byte(b.String()), 0o644)
}

func findResult(rs []hostile.Result, attack, server string) *hostile.Result {
	for i := range rs {
		if rs[i].Attack == attack && rs[i].Server == server {
			return &rs[i]
		}
	}
	return nil
}
