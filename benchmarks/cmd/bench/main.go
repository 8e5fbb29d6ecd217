// Command bench is the streamd benchmark driver. Run it from benchmarks/:
//
//	go run ./cmd/bench -smoke                 # build, start, check every endpoint; no timings
//	go run ./cmd/bench -quick                 # small counts, 1 run each (default)
//	go run ./cmd/bench -full                  # DESIGN §7 counts, 3 runs each
//	go run ./cmd/bench -quick -servers streamd,fasthttp -scenarios plaintext-keepalive,fanout
//	go run ./cmd/bench -hostile               # hostile clients vs memory: HOSTILE.md + results/hostile-*.json
//	go run ./cmd/bench -hostile -smoke        # the same at tiny sizes, table on stdout, nothing written
//
// It builds each server under servers/ once, runs each scenario against a
// fresh server process pinned to CPU 0 (load on CPU 1), measures throughput
// and server CPU (/proc/PID/stat) and RSS (/proc/PID/status), and writes
// RESULTS.md and charts/*.svg. See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
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
		IdleConns: 10000, FanoutConns: 10000, FanoutPubs: 50, FanoutWarm: 3,
		EchoConns: 1000, EchoDur: 10 * time.Second, ChunkDur: 10 * time.Second, Warm: 2 * time.Second}
)

func main() {
	var (
		smoke     = flag.Bool("smoke", false, "build, start and check every server's endpoints (no timings); exit 1 on failure")
		_         = flag.Bool("quick", false, "small counts, one run per scenario (the default)")
		full      = flag.Bool("full", false, "DESIGN §7 counts, three runs per scenario")
		servers   = flag.String("servers", "", "comma-separated servers (default: all under servers/)")
		scenarios = flag.String("scenarios", "", "comma-separated scenarios (default: all): "+strings.Join(scenarioNames(), ","))
		out       = flag.String("out", "RESULTS.md", "results file, relative to benchmarks/")
		noPin     = flag.Bool("nopin", false, "do not pin server and client to separate CPUs")
		hostileF  = flag.Bool("hostile", false, "run the hostile-client attacks (-scenarios picks attacks: "+strings.Join(hostileNames(), ",")+"); writes HOSTILE.md and results/hostile-<git describe>.json")
		note      = flag.String("note", "", "-hostile: a line recorded in HOSTILE.md (e.g. what the code under test is)")
	)
	flag.Parse()
	root, err := harness.Root()
	if err != nil {
		fatalf("%v", err)
	}
	want := splitSet(*servers)
	outPath := *out
	if *hostileF {
		outSet := false
		flag.Visit(func(f *flag.Flag) { outSet = outSet || f.Name == "out" })
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
	plan := quickPlan
	if *full {
		plan = fullPlan
	}

	env, err := setup(root, want, *noPin, true)
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(env.tmp)
	env.plan = plan

	wantSc := splitSet(*scenarios)
	for name := range wantSc {
		if !slices.Contains(scenarioNames(), name) {
			fatalf("unknown scenario %q (have %s)", name, strings.Join(scenarioNames(), ","))
		}
	}
	rep := &Report{Plan: plan, Command: commandLine(), Started: time.Now(), Pinned: env.pinned,
		LoadStart: loadavg(), Machine: machine()}
	if !filepath.IsAbs(outPath) {
		outPath = filepath.Join(root, outPath)
	}
	for _, s := range env.servers {
		if !s.Present {
			rep.Skipped = append(rep.Skipped, s.Name)
		}
	}
	var todo []Scenario
	for _, sc := range allScenarios() {
		if wantSc == nil || wantSc[sc.Name] {
			todo = append(todo, sc)
		}
	}
	for i, sc := range todo {
		rep.Scenarios = append(rep.Scenarios, runScenario(env, sc))
		rep.LoadEnd = loadavg()
		rep.Elapsed = time.Since(rep.Started)
		rep.Partial = i < len(todo)-1
		// Rewritten after every scenario so a long run leaves partial results.
		if err := rep.Write(outPath); err != nil {
			fatalf("%v", err)
		}
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s and charts/ in %s\n", outPath, rep.Elapsed.Round(time.Second))
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
}

func setup(root string, want map[string]bool, noPin, needWrk bool) (*Env, error) {
	env := &Env{root: root, serverCPU: -1, clientCPU: -1, loops: runtime.NumCPU()}
	tmp, err := os.MkdirTemp("", "streamd-bench-")
	if err != nil {
		return nil, err
	}
	env.tmp = tmp
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
