// Command bench is the streamd benchmark driver. Run it from benchmarks/:
//
//	go run ./cmd/bench -smoke                 # build, start, check every endpoint; no timings
//	go run ./cmd/bench -quick                 # small counts, 1 run each (default) → out/RESULTS.md
//	go run ./cmd/bench -full                  # DESIGN §7 counts, 3 runs each → RESULTS.md, charts/, results/, README headline
//	go run ./cmd/bench -quick -servers streamd,fasthttp -scenarios plaintext-keepalive,fanout
//	go run ./cmd/bench -scaling               # streamd (and gnetraw) with 1 vs 2 loops → out/RESULTS.md
//	go run ./cmd/bench -scenarios chunked -servers streamd,rawsock -baseline 5b89b9f -repeats 8
//	go run ./cmd/bench -render results/run-X.json -out RESULTS.md   # re-render a report from its raw data
//	go run ./cmd/bench -hostile               # hostile clients vs memory: HOSTILE.md + results/hostile-*.json
//	go run ./cmd/bench -hostile -smoke        # the same at tiny sizes, table on stdout, nothing written
//	go run ./cmd/bench -cluster               # streamd nodes + NATS JetStream: RESULTS.md's cluster section + results/cluster-*.json
//	go run ./cmd/bench -cluster -smoke        # the same at tiny sizes, section on stdout, nothing written
//
// It builds each server under servers/ once, runs each scenario against a
// fresh server process pinned to CPU 0 (load on CPU 1), measures throughput
// and server CPU (/proc/PID/stat) and RSS (/proc/PID/status), and writes a
// report, its charts and its raw data (every run's figures, as JSON). Only a
// plain -full run writes the committed RESULTS.md, charts/, results/ and the
// README's headline table; anything else writes under out/ (gitignored)
// unless -out says otherwise. See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/streamd/streamd/benchmarks/internal/harness"
)

// Plan sizes a run.
type Plan struct {
	Name        string
	Repeats     int
	PlainDur    time.Duration
	PlainWarm   time.Duration
	IdleConns   int
	FanoutConns int
	FanoutPubs  int
	FanoutWarm  int
	EchoConns   int
	EchoDur     time.Duration
	ChunkDur    time.Duration
	Warm        time.Duration // ws-echo and chunked warm-up
}

var (
	quickPlan = Plan{Name: "quick", Repeats: 1, PlainDur: 5 * time.Second, PlainWarm: time.Second,
		IdleConns: 2000, FanoutConns: 1000, FanoutPubs: 10, FanoutWarm: 2,
		EchoConns: 200, EchoDur: 5 * time.Second, ChunkDur: 5 * time.Second, Warm: time.Second}
	fullPlan = Plan{Name: "full", Repeats: 3, PlainDur: 10 * time.Second, PlainWarm: 2 * time.Second,
		IdleConns: 15000, FanoutConns: 10000, FanoutPubs: 50, FanoutWarm: 3,
		EchoConns: 1000, EchoDur: 10 * time.Second, ChunkDur: 10 * time.Second, Warm: 2 * time.Second}
)

func main() {
	var (
		smoke     = flag.Bool("smoke", false, "build, start and check every server's endpoints (no timings); exit 1 on failure")
		_         = flag.Bool("quick", false, "small counts, one run per scenario (the default)")
		full      = flag.Bool("full", false, "DESIGN §7 counts, three runs per scenario; the only mode that rewrites the committed RESULTS.md")
		servers   = flag.String("servers", "", "comma-separated servers (default: all under servers/)")
		scenarios = flag.String("scenarios", "", "comma-separated scenarios (default: all; scaling-* only in -full): "+strings.Join(knownScenarioNames(), ","))
		out       = flag.String("out", "", "report file, relative to benchmarks/; charts/ and results/ go next to it (default: RESULTS.md for a plain -full run, else out/RESULTS.md)")
		noPin     = flag.Bool("nopin", false, "do not pin server and client to separate CPUs")
		repeats   = flag.Int("repeats", 0, "runs per scenario and server, servers interleaved (0: the plan's, quick 1, full 3)")
		idleConns = flag.Int("idle-conns", 0, "connections per idle-memory run (0: the plan's, quick 2,000, full 15,000; at most 15,000 per server process)")
		baseline  = flag.String("baseline", "", "git revision: also build the servers from it (git archive into a temp dir) and run them as <name>@<rev>, interleaved with the current ones")
		scalingF  = flag.Bool("scaling", false, "run the multi-loop scaling scenarios (scaling-*): 1 loop pinned, 1 loop unpinned, 2 loops unpinned")
		render    = flag.String("render", "", "re-render a report from its raw data file (results/run-*.json) and exit; runs nothing")
		hostileF  = flag.Bool("hostile", false, "run the hostile-client attacks (-scenarios picks attacks: "+strings.Join(hostileNames(), ",")+"); writes HOSTILE.md and results/hostile-<git describe>.json")
		note      = flag.String("note", "", "-hostile: a line recorded in HOSTILE.md (e.g. what the code under test is)")
		tlsF      = flag.Bool("tls", false, "run the TLS scenarios ("+strings.Join(tlsScenarioNames(), ",")+") against the servers that speak TLS; a plain -tls run writes the TLS section of RESULTS.md and results/tls-<git describe>.json; with -smoke, tiny sizes into out/")
		clusterF  = flag.Bool("cluster", false, "run the cluster scenarios (streamd nodes sharing topics through nats-server JetStream; -scenarios picks: "+strings.Join(clusterNames, ",")+"); a plain -cluster run rewrites the cluster section of RESULTS.md and writes results/cluster-<git describe>.json, anything else out/CLUSTER.md")
		clusterN  = flag.Int("cluster-conns", 0, "-cluster: streams of cluster-c45k (0: the plan's, 45,000; at most ~15,000 per node)")
	)
	flag.Parse()
	root, err := harness.Root()
	if err != nil {
		fatalf("%v", err)
	}
	want := splitSet(*servers)
	outSet := flagSet("out")
	if *hostileF {
		outPath := *out
		if !outSet {
			outPath = "HOSTILE.md"
		}
		if !filepath.IsAbs(outPath) {
			outPath = filepath.Join(root, outPath)
		}
		attacks := splitSet(*scenarios)
		for name := range attacks {
			if !slices.Contains(hostileNames(), name) {
				fatalf("unknown attack %q (have %s)", name, strings.Join(hostileNames(), ","))
			}
		}
		runHostile(root, want, attacks, *noPin, *smoke, outPath, *note)
		return
	}

	if *tlsF {
		plain := want == nil && *scenarios == "" && !*smoke && *repeats == 0 && *idleConns == 0 && !*noPin && *baseline == ""
		outPath := *out
		switch {
		case outSet:
		case plain:
			outPath = "RESULTS.md"
		default:
			outPath = filepath.Join("out", "RESULTS-tls.md")
		}
		if !filepath.IsAbs(outPath) {
			outPath = filepath.Join(root, outPath)
		}
		plan := tlsPlan
		if *smoke {
			plan = tlsSmokePlan
		}
		if *repeats > 0 {
			plan.Repeats = *repeats
		}
		if *idleConns > 0 {
			plan.IdleConns = *idleConns
		}
		rep, err := runTLS(root, want, splitSet(*scenarios), plan, *noPin, outPath)
		if err != nil {
			fatalf("%v", err)
		}
		if bad := rep.failures(); len(bad) > 0 {
			fatalf("TLS run: %s", strings.Join(bad, "; "))
		}
		return
	}
	if *clusterF {
		runClusterMode(root, *scenarios, *smoke, *noPin, *repeats, *clusterN, *out, outSet)
		return
	}

	if *smoke {
		start := time.Now()
		failed, err := harness.SmokeAll(root, want, func(f string, a ...any) { fmt.Printf(f+"\n", a...) })
		if err != nil {
			fatalf("%v", err)
		}
		fmt.Printf("smoke: %d failed check(s) in %s\n", failed, time.Since(start).Round(time.Millisecond))
		if failed > 0 {
			os.Exit(1)
		}
		return
	}

	if *render != "" {
		rep, err := readRunFile(*render)
		if err != nil {
			fatalf("%v", err)
		}
		outPath, err := reportPath(root, *out, outSet, rep.Plan.Name == fullPlan.Name || rep.Plan.Name == tlsPlan.Name)
		if err != nil {
			fatalf("%v", err)
		}
		raw, err := filepath.Abs(*render)
		if err != nil {
			fatalf("%v", err)
		}
		if strings.HasPrefix(rep.Plan.Name, "tls") {
			err = rep.renderTLS(outPath, raw)
		} else {
			err = rep.render(root, outPath, raw)
		}
		if err != nil {
			fatalf("%v", err)
		}
		logf("rendered %s from %s", outPath, *render)
		return
	}

	plan := quickPlan
	if *full {
		plan = fullPlan
	}
	if *repeats > 0 {
		plan.Repeats = *repeats
	}
	if *idleConns > 0 {
		plan.IdleConns = *idleConns
	}
	// Only a plain -full run may land in the committed files: a subset, a
	// baseline comparison or other repeats would replace them with a
	// different kind of run.
	plain := *full && want == nil && *scenarios == "" && *baseline == "" && *repeats == 0 && *idleConns == 0 && !*noPin && !*scalingF
	outPath, err := reportPath(root, *out, outSet, *full)
	if err != nil {
		fatalf("%v", err)
	}
	if !outSet && !plain {
		outPath = filepath.Join(root, "out", "RESULTS.md")
	}

	wantSc := splitSet(*scenarios)
	for name := range wantSc {
		if !slices.Contains(knownScenarioNames(), name) {
			fatalf("unknown scenario %q (have %s)", name, strings.Join(knownScenarioNames(), ","))
		}
	}
	var todo []Scenario
	for _, sc := range knownScenarios() {
		switch {
		case wantSc != nil:
			if !wantSc[sc.Name] {
				continue
			}
		case *scalingF:
			if sc.Variants == nil {
				continue
			}
		case sc.Variants != nil && !*full:
			continue // scaling runs in -full, with -scaling, or by name
		}
		todo = append(todo, sc)
	}
	env, err := setup(root, want, *noPin, true)
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(env.tmp)
	env.plan = plan
	if *baseline != "" {
		if err := env.addBaseline(*baseline); err != nil {
			fatalf("-baseline %s: %v", *baseline, err)
		}
	}

	rep := &Report{Plan: plan, Command: commandLine(), Flags: flagValues(), Started: time.Now(), Pinned: env.pinned,
		LoadStart: loadavg(), Machine: machine(), Code: gitDescribe(root), Commit: gitCommit(root), Baseline: env.baseline}
	for _, s := range env.servers {
		rep.Servers = append(rep.Servers, ServerNote{Name: s.Name, Note: s.Note})
		if !s.Present {
			rep.Skipped = append(rep.Skipped, s.Name)
		}
	}
	for i, sc := range todo {
		rep.Scenarios = append(rep.Scenarios, runScenario(env, sc))
		rep.LoadEnd = loadavg()
		rep.Elapsed = time.Since(rep.Started)
		rep.Partial = i < len(todo)-1
		// Rewritten after every scenario so a long run leaves partial results.
		if err := rep.writeAll(root, outPath); err != nil {
			fatalf("%v", err)
		}
	}
	logf("wrote %s, its charts and %s in %s", outPath, rep.rawPath(outPath), rep.Elapsed.Round(time.Second))
}

// reportPath resolves -out. Only a -full run (or the rendering of one) may
// write the committed RESULTS.md: a newcomer's -quick run must not replace
// the published figures.
func reportPath(root, out string, outSet, full bool) (string, error) {
	committed := filepath.Join(root, "RESULTS.md")
	p := out
	if !outSet {
		p = "RESULTS.md"
		if !full {
			p = filepath.Join("out", "RESULTS.md")
		}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(root, p)
	}
	p = filepath.Clean(p)
	if p == committed && !full {
		return "", fmt.Errorf("only a -full run writes the committed RESULTS.md; -quick reports go to out/RESULTS.md (or any other -out)")
	}
	return p, nil
}

// flagSet reports whether the named flag was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// FlagValue is one command-line flag as the run saw it.
type FlagValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Set   bool   `json:"set"` // given on the command line (else the default)
}

func flagValues() []FlagValue {
	var out []FlagValue
	flag.VisitAll(func(f *flag.Flag) {
		out = append(out, FlagValue{Name: f.Name, Value: f.Value.String(), Set: flagSet(f.Name)})
	})
	return out
}

// Env is what the scenarios share.
type Env struct {
	root      string
	tmp       string
	plan      Plan
	servers   []harness.ServerInfo
	bins      map[string]string
	buildErr  map[string]string
	pinned    bool
	serverCPU int // -1 when not pinned
	clientCPU int
	loops     int
	wrk       string
	luaPipe   string
	baseline  string // -baseline: the full commit hash the @ servers are built from
	cert      *harness.TLSCert
	pubTLS    *http.Client // publishes to a server speaking HTTPS
	tlsOn     bool         // this scenario run's server speaks HTTPS (the load client too)
	heapFile  string       // TLS runs: the server's -heap-file
}

// withVariant returns the environment a row with variant v runs in.
func (e *Env) withVariant(v Variant) *Env {
	c := *e
	if v.Unpinned {
		c.serverCPU, c.clientCPU = -1, -1
	}
	if v.Loops > 0 {
		c.loops = v.Loops
	}
	return &c
}

// pinDriver sets this process's CPU affinity (all threads) to cpus, a
// taskset list such as "1" or "0-1". A no-op when the run is not pinned.
func (e *Env) pinDriver(cpus string) {
	if !e.pinned {
		return
	}
	if out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
		logf("warning: could not set the driver's CPUs to %s: %v %s", cpus, err, out)
	}
}

// addBaseline builds every present server from the git revision rev (the
// library and benchmarks/ as of rev, exported with git archive into the
// temp dir, so the repository's worktrees are not touched) and lists each
// as "<name>@<short hash>" right after the current one, so the runs of the
// two interleave. Servers missing at rev are left out with a log line.
func (e *Env) addBaseline(rev string) error {
	sha, err := gitOut(e.root, "rev-parse", "--verify", rev+"^{commit}")
	if err != nil {
		return err
	}
	short, err := gitOut(e.root, "rev-parse", "--short", sha)
	if err != nil {
		return err
	}
	top, err := gitOut(e.root, "rev-parse", "--show-toplevel")
	if err != nil {
		return err
	}
	prefix, err := gitOut(e.root, "rev-parse", "--show-prefix") // "benchmarks/"
	if err != nil {
		return err
	}
	dir := filepath.Join(e.tmp, "baseline-"+short)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	logf("baseline: exporting %s into %s ...", short, dir)
	archive := exec.Command("sh", "-c", `git -C "$1" archive --format=tar "$2" | tar -x -C "$3"`, "sh", top, sha, dir)
	if out, err := archive.CombinedOutput(); err != nil {
		return fmt.Errorf("git archive: %v: %s", err, out)
	}
	broot := filepath.Join(dir, prefix)
	var servers []harness.ServerInfo
	for _, s := range e.servers {
		servers = append(servers, s)
		if !s.Present || e.bins[s.Name] == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(broot, "servers", s.Name, "main.go")); err != nil {
			logf("baseline: %s has no servers/%s at %s; not compared", s.Name, s.Name, short)
			continue
		}
		b := s
		b.Name = s.Name + "@" + short
		b.Dir = filepath.Join(broot, "servers", s.Name)
		b.Note = fmt.Sprintf("servers/%s and the library as of %s (-baseline)", s.Name, short)
		bins, err := harness.Build(context.Background(), broot, e.tmp, map[string]string{b.Name: "./servers/" + s.Name})
		if err != nil {
			logf("baseline: %s: build failed, reported as an error: %v", b.Name, err)
			e.buildErr[b.Name] = "build failed: " + firstLine(err.Error())
		} else {
			e.bins[b.Name] = bins[b.Name]
		}
		servers = append(servers, b)
	}
	e.servers = servers
	e.baseline = sha
	return nil
}

func gitOut(dir string, args ...string) (string, error) {
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// gitCommit returns the full hash of HEAD, or "unknown".
func gitCommit(root string) string {
	c, err := gitOut(root, "rev-parse", "HEAD")
	if err != nil {
		return "unknown"
	}
	return c
}

func setup(root string, want map[string]bool, noPin, needWrk bool) (*Env, error) {
	env := &Env{root: root, serverCPU: -1, clientCPU: -1, loops: runtime.NumCPU()}
	tmp, err := os.MkdirTemp("", "streamd-bench-")
	if err != nil {
		return nil, err
	}
	env.tmp = tmp
	if env.cert, err = harness.NewTLSCert(tmp); err != nil {
		return nil, err
	}
	env.pubTLS = &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 1, TLSClientConfig: env.cert.Client(false)}}
	logf("building loadclient and servers ...")
	env.bins, err = harness.Build(context.Background(), root, tmp, map[string]string{"loadclient": "./cmd/loadclient"})
	if err != nil {
		return nil, err
	}
	env.buildErr = map[string]string{}
	for _, s := range harness.Servers(root) {
		if want != nil && !want[s.Name] {
			continue
		}
		env.servers = append(env.servers, s)
		if !s.Present {
			logf("skip %s: servers/%s/main.go does not exist yet", s.Name, s.Name)
			continue
		}
		bins, err := harness.Build(context.Background(), root, tmp, map[string]string{s.Name: s.Package()})
		if err != nil {
			logf("%s: build failed, it will be reported as an error: %v", s.Name, err)
			env.buildErr[s.Name] = "build failed: " + firstLine(err.Error())
			continue
		}
		env.bins[s.Name] = bins[s.Name]
	}
	if _, err := exec.LookPath("taskset"); err == nil && runtime.NumCPU() >= 2 && !noPin {
		env.pinned, env.serverCPU, env.clientCPU, env.loops = true, 0, 1, 1
		// Pin this driver (publisher, result collection) with the load.
		if out, err := exec.Command("taskset", "-a", "-p", "-c", "1", strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
			logf("warning: could not pin driver: %v %s", err, out)
		}
		logf("pinning: server on CPU 0 with -loops 1; wrk, load clients and driver on CPU 1")
	} else {
		logf("not pinned: server with -loops %d shares CPUs with the load", env.loops)
	}
	if p, err := exec.LookPath("wrk"); err == nil {
		env.wrk = p
	} else if needWrk {
		logf("warning: wrk not found (apt-get install -y wrk): plaintext scenarios will be skipped")
	}
	env.luaPipe = filepath.Join(tmp, "pipeline.lua")
	lua := `init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format("GET", "/hello") end
  req = table.concat(r)
end
request = function() return req end
`
	return env, os.WriteFile(env.luaPipe, []byte(lua), 0o644)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func splitSet(s string) map[string]bool {
	if s == "" {
		return nil
	}
	m := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			m[f] = true
		}
	}
	return m
}

func commandLine() string {
	args := []string{"go", "run", "./cmd/bench"}
	for _, a := range os.Args[1:] {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`;&|<>()*?[]#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		args = append(args, a)
	}
	return strings.Join(args, " ")
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// Machine describes the box.
type Machine struct {
	CPU, Kernel, Go string
	Cores           int
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		m.Go = strings.TrimSpace(strings.TrimPrefix(string(out), "go version "))
	}
	return m
}
