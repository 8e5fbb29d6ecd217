package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/streamd/streamd/benchmarks/internal/harness"
	"github.com/streamd/streamd/benchmarks/internal/proto"
)

// maxPerClient bounds connections per loadclient process (fd limit ~20k,
// 28k ports per source address).
const maxPerClient = 5000

// Figures is one run's measurements, by key (see Scenario.Columns).
type Figures map[string]float64

// Column is one reported figure.
type Column struct {
	Key, Label  string
	Digits      int
	LowerBetter bool
}

// Scenario is one benchmark.
type Scenario struct {
	Name    string
	Title   string
	What    string
	Cap     string // capability a server needs
	Extra   []string
	Columns []Column
	Primary string // the key the ratio and target use
	Chart   string // the key charted as "throughput"
	Target  string
	Run     func(env *Env, s harness.ServerInfo, p *harness.Proc) (Figures, string, error)
	// Judge decides the target for streamd from per-server medians.
	Judge func(med map[string]Figures) (verdict string, met bool, ok bool)
	// Variants, when set, runs each server once per variant (the scaling
	// scenarios: loops and pinning); nil is one row per server.
	Variants []Variant
	// Servers, when set, limits the scenario to these servers.
	Servers []string
	// Floor names the raw ceiling server of the scenario and Unit what the
	// profile columns (user and kernel µs per Unit) count; see
	// ProfileSummary.
	Floor, Unit string
	// TLS runs the server with the run's certificate (HTTPS only) and the
	// load client over TLS (see tls.go).
	TLS bool
}

func scenarioNames() []string {
	var n []string
	for _, s := range allScenarios() {
		n = append(n, s.Name)
	}
	return n
}

var (
	colRPS     = Column{Key: "rps", Label: "req/s", Digits: 0}
	colEff     = Column{Key: "eff", Label: "req per server CPU-s", Digits: 0}
	colCPU     = Column{Key: "cpu", Label: "server CPU %", Digits: 0}
	colKiB     = Column{Key: "kib", Label: "RSS KiB per conn", Digits: 2, LowerBetter: true}
	colConns   = Column{Key: "conns", Label: "conns open", Digits: 0}
	colRSS     = Column{Key: "rss_mib", Label: "RSS MiB (open)", Digits: 1, LowerBetter: true}
	colP50     = Column{Key: "p50", Label: "p50 µs", Digits: 0, LowerBetter: true}
	colP99     = Column{Key: "p99", Label: "p99 µs", Digits: 0, LowerBetter: true}
	colMax     = Column{Key: "max", Label: "max µs", Digits: 0, LowerBetter: true}
	colDelivPS = Column{Key: "dps", Label: "delivered/s", Digits: 0}
	colDeliv   = Column{Key: "delivered", Label: "delivered %", Digits: 2}
	colMsgEff  = Column{Key: "eff", Label: "msgs per server CPU-s", Digits: 0}
	colMsgs    = Column{Key: "mps", Label: "msgs/s", Digits: 0}
	colMBps    = Column{Key: "mbps", Label: "MB/s", Digits: 0}
	colMBEff   = Column{Key: "eff", Label: "MB per server CPU-s", Digits: 0}
)

// Profile columns: the server's CPU time per unit of work, split into user
// space (utime) and kernel (stime), from /proc/PID/stat (see addProfile).
func colUsr(unit string, digits int) Column {
	return Column{Key: "usr", Label: "user µs per " + unit, Digits: digits, LowerBetter: true}
}

func colSys(unit string, digits int) Column {
	return Column{Key: "sys", Label: "kernel µs per " + unit, Digits: digits, LowerBetter: true}
}

// addProfile records the server's user and kernel CPU time per unit of work.
func addProfile(f Figures, d harness.CPUTime, units float64) {
	if usr, sys, ok := d.Split(); ok && units > 0 {
		f["usr"] = 1e6 * usr / units
		f["sys"] = 1e6 * sys / units
	}
}

func allScenarios() []Scenario {
	return withRowNotes([]Scenario{
		{
			Name: "plaintext-keepalive", Title: "Plaintext, keep-alive (wrk, 64 conns, 1 thread)", Cap: harness.CapHello,
			What:    "GET /hello over 64 keep-alive connections from one wrk thread.",
			Columns: []Column{colRPS, colEff, colCPU, colUsr("req", 2), colSys("req", 2)}, Primary: "eff", Chart: "rps",
			Floor: "gnetraw", Unit: "req",
			Target: "≥ 1.1× fasthttp req per server CPU-s",
			Run: func(e *Env, s harness.ServerInfo, p *harness.Proc) (Figures, string, error) {
				return runWrk(e, p, false)
			},
			Judge: judgeRatio("eff", "fasthttp", 1.1, false),
		},
		{
			Name: "plaintext-pipelined", Title: "Plaintext, pipelined ×16 (wrk, 64 conns, 1 thread)", Cap: harness.CapHello,
			What:    "GET /hello, 16 requests per write (wrk Lua script), 64 connections.",
			Columns: []Column{colRPS, colEff, colCPU, colUsr("req", 2), colSys("req", 2)}, Primary: "eff", Chart: "rps",
			Floor: "gnetraw", Unit: "req",
			Target: "≥ 1.4× fasthttp and ≥ 0.9× gnetraw req per server CPU-s",
			Run: func(e *Env, s harness.ServerInfo, p *harness.Proc) (Figures, string, error) {
				return runWrk(e, p, true)
			},
			Judge: judgeAll(judgeRatio("eff", "fasthttp", 1.4, false), judgeRatio("eff", "gnetraw", 0.9, false)),
		},
		{
			Name: "sse-idle", Title: "Idle SSE streams: memory", Cap: harness.CapSSE,
			What:    "RSS growth of the server after opening N idle GET /sse streams, divided by N (baseline taken after a warm-up of 100 connections opened and closed).",
			Columns: []Column{colKiB, colConns, colRSS}, Primary: "kib", Chart: "kib",
			Target: "≤ 1 KiB RSS per stream",
			Run: func(e *Env, s harness.ServerInfo, p *harness.Proc) (Figures, string, error) {
				return runIdle(e, p, "sse-idle")
			},
			Judge: judgeAbs("kib", 1.0, true, "KiB per stream"),
		},
		{
			Name: "ws-idle", Title: "Idle WebSocket connections: memory", Cap: harness.CapWS,
			What:    "RSS growth of the server after opening N idle /ws/sub connections, divided by N (baseline taken after a warm-up of 100 connections opened and closed).",
			Columns: []Column{colKiB, colConns, colRSS}, Primary: "kib", Chart: "kib",
			Target: "— (no DESIGN target; reported)",
			Run: func(e *Env, s harness.ServerInfo, p *harness.Proc) (Figures, string, error) {
				return runIdle(e, p, "ws-idle")
			},
		},
		{
			Name: "fanout", Title: "Fan-out: one publish → N SSE subscribers", Cap: harness.CapSSE,
			What: "POST /publish once, wait until every SSE subscriber has it, repeat K times; latency = receipt − send timestamp. " +
				"rawfanout (the ceiling) writes the prebuilt message to each subscriber socket with one write(2) each.",
			Columns: []Column{colP50, colP99, colMax, colDelivPS, colDeliv, colMsgEff, colUsr("msg", 2), colSys("msg", 2)}, Primary: "p99", Chart: "dps",
			Floor: "rawfanout", Unit: "msg",
			Target: "all delivered; p99 ≤ ⅓ of the best peer's p99; deliveries per server CPU-s ≥ 0.9× rawfanout",
			Run: func(e *Env, s harness.ServerInfo, p *harness.Proc) (Figures, string, error) {
				return runFanout(e, p, "sse")
			},
			Judge: judgeAll(judgeFanout, judgeRatio("eff", "rawfanout", 0.9, false)),
		},
		{
			Name: "fanout-ws", Title: "Fan-out: one publish → N WebSocket subscribers", Cap: harness.CapWS,
			What:    "As fanout, with /ws/sub subscribers receiving text frames; rawfanout writes one prebuilt frame per subscriber socket.",
			Columns: []Column{colP50, colP99, colMax, colDelivPS, colDeliv, colMsgEff, colUsr("msg", 2), colSys("msg", 2)}, Primary: "p99", Chart: "dps",
			Floor: "rawfanout", Unit: "msg",
			Target: "deliveries per server CPU-s ≥ 0.9× rawfanout (issue 13; DESIGN §7 sets no WebSocket fan-out target)",
			Run: func(e *Env, s harness.ServerInfo, p *harness.Proc) (Figures, string, error) {
				return runFanout(e, p, "ws")
			},
			Judge: judgeRatio("eff", "rawfanout", 0.9, false),
		},
		{
			Name: "ws-echo", Title: "WebSocket echo", Cap: harness.CapWSEcho,
			What: "N /ws/echo connections, each doing 32-byte text round trips back to back; counts round trips. " +
				"rawecho (the ceiling) writes back each read(2) as read, with no framing work.",
			Columns: []Column{colMsgs, colMsgEff, colP99, colCPU, colUsr("msg", 2), colSys("msg", 2)}, Primary: "eff", Chart: "mps",
			Floor: "rawecho", Unit: "msg",
			Target: "≥ 1.5× fasthttp and ≥ 0.9× rawecho msgs per server CPU-s (0 allocs/msg: see go test -bench in ws/)",
			Run:    runEcho,
			Judge:  judgeAll(judgeRatio("eff", "fasthttp", 1.5, false), judgeRatio("eff", "rawecho", 0.9, false)),
		},
		{
			Name: "chunked", Title: "Chunked download throughput", Cap: harness.CapChunked,
			What: "One connection downloading GET /chunked (64 MiB in 16 KiB chunks) back to back; rawsock writes the same bytes with plain write(2). " +
				"The load client checks every chunk's size: a server whose chunks are not 16 KiB is reported as an error.",
			Columns: []Column{colMBps, colMBEff, colCPU, colUsr("MB", 0), colSys("MB", 0)}, Primary: "mbps", Chart: "mbps",
			Floor: "rawsock", Unit: "MB",
			Target: "≥ 0.8× rawsock MB/s",
			Run:    runChunked,
			Judge:  judgeRatio("mbps", "rawsock", 0.8, false),
		},
	})
}

// withRowNotes makes each scenario's Run add the server's row note for the
// scenario (harness.ServerInfo.RowNote: how it is configured, where it
// deviates from the rules or its docs) to its first run's note.
func withRowNotes(scs []Scenario) []Scenario {
	for i := range scs {
		run, name := scs[i].Run, scs[i].Name
		noted := map[string]bool{}
		scs[i].Run = func(e *Env, s harness.ServerInfo, p *harness.Proc) (Figures, string, error) {
			f, note, err := run(e, s, p)
			if rn := s.RowNote(name); rn != "" && !noted[s.Name] {
				noted[s.Name] = true
				note = strings.TrimSuffix(rn+"; "+note, "; ")
			}
			return f, note, err
		}
	}
	return scs
}

// ProfileSummary explains, from the per-server medians, where the floor is:
// the ceiling's user and kernel CPU time per unit of work against
// streamd's. It returns "" when the scenario has no ceiling or either is
// missing.
func (sc Scenario) ProfileSummary(med map[string]Figures) string {
	c, okC := med[sc.Floor]
	s, okS := med["streamd"]
	if sc.Floor == "" || !okC || !okS {
		return ""
	}
	if _, ok := c["sys"]; !ok {
		return ""
	}
	if _, ok := s["sys"]; !ok {
		return ""
	}
	us := func(v float64) string {
		if sc.Unit == "MB" {
			return fmt.Sprintf("%.0f µs", v)
		}
		return fmt.Sprintf("%.2f µs", v)
	}
	share := func(f Figures) float64 { return 100 * f["sys"] / (f["usr"] + f["sys"]) }
	ratio, per := "", "per"
	if cp, sp := c[sc.Primary], s[sc.Primary]; cp > 0 && sp > 0 {
		label := sc.Primary
		lowerBetter := false
		for _, col := range sc.Columns {
			if col.Key == sc.Primary {
				label, lowerBetter = col.Label, col.LowerBetter
			}
		}
		if !lowerBetter {
			ratio, per = fmt.Sprintf("streamd's %s is %.2f× the ceiling's (%s). ", label, sp/cp, sc.Floor), "Per"
		}
	}
	return fmt.Sprintf("**Where the floor is:** %s%s %s, the ceiling %s spends %s in the kernel and %s in user space (%.0f%% kernel); "+
		"streamd %s and %s (%.0f%% kernel), a difference of %s kernel and %s user time. "+
		"Kernel time is the system calls and, on loopback, the receiving side's TCP work, which the kernel runs at the end of the sender's write(2) "+
		"and charges to the server. The ceiling makes only the system calls the scenario needs, so its kernel time is the floor and its user time the least overhead. "+
		"CPU time from the server's process CPU clock over the measured interval, split in the proportion of /proc/PID/stat utime:stime (10 ms ticks: a short interval makes a coarse split).\n",
		ratio, per, sc.Unit, sc.Floor, us(c["sys"]), us(c["usr"]), share(c),
		us(s["sys"]), us(s["usr"]), share(s), signed(us, s["sys"]-c["sys"]), signed(us, s["usr"]-c["usr"]))
}

func signed(us func(float64) string, v float64) string {
	if v < 0 {
		return "−" + us(-v)
	}
	return "+" + us(v)
}

// --- wrk ---

var (
	reReqs   = regexp.MustCompile(`(\d+) requests in ([\d.]+)(\w+),`)
	reRPS    = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reErrors = regexp.MustCompile(`(Socket errors:.*|Non-2xx or 3xx responses:.*)`)
)

func wrkArgs(e *Env, p *harness.Proc, pipelined bool, d time.Duration, scheme string) []string {
	args := []string{e.wrk, "-t1", "-c64", "-d" + strconv.Itoa(int(d.Seconds())) + "s"}
	if pipelined {
		args = append(args, "-s", e.luaPipe)
	}
	args = append(args, scheme+"://"+p.Addr+"/hello")
	return pinArgs(e.clientCPU, args)
}

func pinArgs(cpu int, args []string) []string {
	if cpu < 0 {
		return args
	}
	return append([]string{"taskset", "-c", strconv.Itoa(cpu)}, args...)
}

func runWrk(e *Env, p *harness.Proc, pipelined bool) (Figures, string, error) {
	return runWrkScheme(e, p, pipelined, "http")
}

// runWrkScheme is runWrk against scheme://addr/hello ("http" or "https").
func runWrkScheme(e *Env, p *harness.Proc, pipelined bool, scheme string) (Figures, string, error) {
	if e.wrk == "" {
		return nil, "", errors.New("wrk not installed")
	}
	warm := wrkArgs(e, p, pipelined, e.plan.PlainWarm, scheme)
	if out, err := exec.Command(warm[0], warm[1:]...).CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("wrk warm-up: %v: %s", err, out)
	}
	args := wrkArgs(e, p, pipelined, e.plan.PlainDur, scheme)
	cpu0, _ := harness.CPUTimes(p.PID())
	t0 := time.Now()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	wall := time.Since(t0).Seconds()
	cpu1, _ := harness.CPUTimes(p.PID())
	cpuD := cpu1.Sub(cpu0)
	if err != nil {
		return nil, "", fmt.Errorf("wrk: %v: %s", err, out)
	}
	m := reReqs.FindSubmatch(out)
	r := reRPS.FindSubmatch(out)
	if m == nil || r == nil {
		return nil, "", fmt.Errorf("cannot parse wrk output: %s", out)
	}
	reqs, _ := strconv.ParseFloat(string(m[1]), 64)
	rps, _ := strconv.ParseFloat(string(r[1]), 64)
	f := Figures{"rps": rps, "cpu": 100 * cpuD.Total / wall}
	if cpuD.Total > 0 {
		f["eff"] = reqs / cpuD.Total
	}
	addProfile(f, cpuD, reqs)
	note := ""
	if em := reErrors.FindAll(out, -1); len(em) > 0 {
		note = string(bytes.Join(em, []byte("; ")))
	}
	return f, note, nil
}

// --- load client processes ---

type lcEvent struct {
	idx int
	ev  proto.Event
	err error // set on the final event when the process ended
}

type clients struct {
	procs  []*exec.Cmd
	stdins []io.WriteCloser
	events chan lcEvent
	exited int
}

// spawn starts ceil(total/maxPerClient) loadclients, client i bound to
// source 127.0.0.(2+i), sharing total connections.
// spawnReady starts load clients for total connections and waits until
// they all report ready; on error nothing is left running.
func spawnReady(e *Env, p *harness.Proc, total int, timeout time.Duration, args ...string) (*clients, []proto.Event, error) {
	cs, err := spawn(e, p, total, args...)
	if err != nil {
		return nil, nil, err
	}
	ready, err := cs.wait(proto.EvReady, timeout)
	if err != nil {
		cs.kill()
		return nil, nil, err
	}
	return cs, ready, nil
}

func spawn(e *Env, p *harness.Proc, total int, args ...string) (*clients, error) {
	return spawnAddrs(e, []string{p.Addr}, total, args...)
}

// spawnAddrs is spawn over several server addresses: the process count is
// rounded up to a multiple of len(addrs) and process i dials
// addrs[i%len(addrs)] from source 127.0.0.(2+i), so each address gets the
// same share of connections.
func spawnAddrs(e *Env, addrs []string, total int, args ...string) (*clients, error) {
	nproc := (total + maxPerClient - 1) / maxPerClient
	nproc = (nproc + len(addrs) - 1) / len(addrs) * len(addrs)
	cs := &clients{events: make(chan lcEvent, 4096)}
	for i := range nproc {
		n := total / nproc
		if i < total%nproc {
			n++
		}
		a := append([]string{e.bins["loadclient"], "-addr", addrs[i%len(addrs)], "-src", fmt.Sprintf("127.0.0.%d", 2+i), "-n", strconv.Itoa(n)}, args...)
		if e.tlsOn {
			a = append(a, "-tls-ca", e.cert.CA)
		}
		a = pinArgs(e.clientCPU, a)
		cmd := exec.Command(a[0], a[1:]...)
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			cs.kill()
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			cs.kill()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			cs.kill()
			return nil, err
		}
		cs.procs = append(cs.procs, cmd)
		cs.stdins = append(cs.stdins, stdin)
		go func(idx int) {
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 64<<10), 16<<20)
			for sc.Scan() {
				var ev proto.Event
				if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
					cs.events <- lcEvent{idx: idx, err: fmt.Errorf("bad loadclient line %.100q: %v", sc.Text(), err)}
					continue
				}
				cs.events <- lcEvent{idx: idx, ev: ev}
			}
			err := cmd.Wait()
			if err == nil {
				err = io.EOF
			}
			cs.events <- lcEvent{idx: idx, err: err}
		}(i)
	}
	return cs, nil
}

func (cs *clients) send(line string) {
	for _, w := range cs.stdins {
		io.WriteString(w, line+"\n")
	}
}

func (cs *clients) stop() {
	for _, w := range cs.stdins {
		w.Close()
	}
}

func (cs *clients) kill() {
	for _, c := range cs.procs {
		if c.Process != nil {
			c.Process.Kill()
		}
	}
}

// wait collects events of type typ, one per process, within d.
func (cs *clients) wait(typ string, d time.Duration) ([]proto.Event, error) {
	got := make([]proto.Event, len(cs.procs))
	have := make([]bool, len(cs.procs))
	left := len(cs.procs)
	timer := time.NewTimer(d)
	defer timer.Stop()
	for left > 0 {
		select {
		case le := <-cs.events:
			if le.err != nil {
				if errors.Is(le.err, io.EOF) || le.ev.Type == "" {
					if !have[le.idx] {
						return nil, fmt.Errorf("loadclient %d ended before %q: %v", le.idx, typ, le.err)
					}
					continue
				}
				return nil, le.err
			}
			if le.ev.Type == typ && !have[le.idx] {
				got[le.idx], have[le.idx] = le.ev, true
				left--
			}
		case <-timer.C:
			return nil, fmt.Errorf("timed out after %s waiting for %q from loadclients", d, typ)
		}
	}
	return got, nil
}

func sumConns(evs []proto.Event) (conns, failed int) {
	for _, ev := range evs {
		conns += ev.Conns
		failed += ev.Failed
	}
	return
}

func firstErrors(evs []proto.Event) string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Errors...)
	}
	if len(out) > 4 {
		out = out[:4]
	}
	return strings.Join(out, "; ")
}

func mergeHist(evs []proto.Event) *hdrhistogram.Histogram {
	h := proto.NewHist()
	for _, ev := range evs {
		if ev.Hist != nil {
			h.Merge(hdrhistogram.Import(ev.Hist))
		}
	}
	return h
}

// --- idle memory ---

func runIdle(e *Env, p *harness.Proc, mode string) (Figures, string, error) {
	n := e.plan.IdleConns
	// Warm-up: open and close a few connections of the same kind first, so
	// the baseline already has the code pages and runtime structures a
	// first connection touches; the delta is then per-connection memory.
	// Every server gets the same warm-up.
	if w, _, err := spawnReady(e, p, min(n, 100), time.Minute, "-mode", mode); err == nil {
		w.stop()
		_, _ = w.wait(proto.EvResult, 30*time.Second)
		w.kill()
	}
	time.Sleep(500 * time.Millisecond)
	rss0, err := harness.RSSKiB(p.PID())
	if err != nil {
		return nil, "", err
	}
	cs, ready, err := spawnReady(e, p, n, 3*time.Minute, "-mode", mode)
	if err != nil {
		return nil, "", err
	}
	defer cs.kill()
	conns, failed := sumConns(ready)
	time.Sleep(time.Second) // let the server settle (lazy allocations, GC)
	rss1, err := harness.RSSKiB(p.PID())
	if err != nil {
		return nil, "", err
	}
	cs.stop()
	res, _ := cs.wait(proto.EvResult, 30*time.Second)
	if conns == 0 {
		return nil, "", fmt.Errorf("no connection established: %s", firstErrors(res))
	}
	f := Figures{"kib": float64(rss1-rss0) / float64(conns), "conns": float64(conns), "rss_mib": float64(rss1) / 1024}
	note := ""
	if failed > 0 {
		note = fmt.Sprintf("%d of %d conns failed: %s", failed, n, firstErrors(res))
	}
	return f, note, nil
}

// --- fan-out ---

var pubClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}

// publish posts message seq to the plain-HTTP server at addr.
func publish(addr string, seq int) error {
	return publishWith(pubClient, "http", addr, seq)
}

// publishTo posts message seq to the scenario run's server at addr, over
// TLS when it speaks it.
func publishTo(e *Env, addr string, seq int) error {
	if e.tlsOn {
		return publishWith(e.pubTLS, "https", addr, seq)
	}
	return publish(addr, seq)
}

func publishWith(c *http.Client, scheme, addr string, seq int) error {
	payload := strconv.FormatInt(time.Now().UnixNano(), 10) + "-" + strconv.Itoa(seq) + "-"
	if pad := 64 - len(payload); pad > 0 {
		payload += strings.Repeat("x", pad)
	}
	resp, err := c.Post(scheme+"://"+addr+"/publish?topic=bench", "text/plain", strings.NewReader(payload))
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("POST /publish: status %d, want 204", resp.StatusCode)
	}
	return nil
}

func runFanout(e *Env, p *harness.Proc, kind string) (Figures, string, error) {
	n, pubs, warm := e.plan.FanoutConns, e.plan.FanoutPubs, e.plan.FanoutWarm
	cs, ready, err := spawnReady(e, p, n, 3*time.Minute, "-mode", "fanout", "-proto", kind, "-expect", strconv.Itoa(pubs), "-warm", strconv.Itoa(warm))
	if err != nil {
		return nil, "", err
	}
	defer cs.kill()
	return measureFanout(cs, ready, func(seq int) error { return publishTo(e, p.Addr, seq) }, []int{p.PID()}, n, pubs, warm)
}

// measureFanout publishes warm+pubs messages with pub, one at a time,
// each after the previous one reached every subscriber of cs (or 10 s
// passed), and reports latency, deliveries and deliveries per CPU-second of
// the processes pids (summed) over the measured publishes.
func measureFanout(cs *clients, ready []proto.Event, pub func(seq int) error, pids []int, n, pubs, warm int) (Figures, string, error) {
	conns, failed := sumConns(ready)
	if conns == 0 {
		return nil, "", errors.New("no subscriber connected")
	}
	time.Sleep(300 * time.Millisecond)

	var (
		cpu0      harness.CPUTime
		fanTime   time.Duration // Σ publish → last subscriber has it
		timeouts  int
		perPubMax = 10 * time.Second
	)
	seen := make([]map[int]bool, len(cs.procs))
	for i := range seen {
		seen[i] = map[int]bool{}
	}
	for seq := range warm + pubs {
		if seq == warm {
			cpu0 = cpuOf(pids)
		}
		t0 := time.Now()
		if err := pub(seq); err != nil {
			return nil, "", err
		}
		deadline := time.NewTimer(perPubMax)
		done := 0
		for i := range seen {
			if seen[i][seq] {
				done++
			}
		}
	wait:
		for done < len(cs.procs) {
			select {
			case le := <-cs.events:
				if le.err != nil {
					if errors.Is(le.err, io.EOF) {
						deadline.Stop()
						return nil, "", fmt.Errorf("loadclient %d exited during fan-out", le.idx)
					}
					continue
				}
				if le.ev.Type == proto.EvSeq && !seen[le.idx][le.ev.Seq] {
					seen[le.idx][le.ev.Seq] = true
					if le.ev.Seq == seq {
						done++
					}
				}
			case <-deadline.C:
				timeouts++
				break wait
			}
		}
		deadline.Stop()
		if seq >= warm {
			fanTime += time.Since(t0)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cpuD := cpuOf(pids).Sub(cpu0)
	time.Sleep(200 * time.Millisecond)
	cs.stop()
	res, err := cs.wait(proto.EvResult, time.Minute)
	if err != nil {
		return nil, "", err
	}
	h := mergeHist(res)
	var delivered, expected int64
	for _, ev := range res {
		delivered += ev.Messages
		expected += ev.Expected
	}
	f := Figures{
		"p50": float64(h.ValueAtQuantile(50)), "p99": float64(h.ValueAtQuantile(99)), "max": float64(h.Max()),
		"delivered": 100 * float64(delivered) / float64(max(expected, 1)),
	}
	if fanTime > 0 {
		f["dps"] = float64(delivered) / fanTime.Seconds()
	}
	if cpuD.Total > 0 {
		f["eff"] = float64(delivered) / cpuD.Total
	}
	addProfile(f, cpuD, float64(delivered))
	var notes []string
	if failed > 0 {
		notes = append(notes, fmt.Sprintf("%d of %d subscribers failed to connect", failed, n))
	}
	if delivered != expected {
		notes = append(notes, fmt.Sprintf("delivered %d of %d", delivered, expected))
	}
	if timeouts > 0 {
		notes = append(notes, fmt.Sprintf("%d publishes not fully delivered within %s", timeouts, perPubMax))
	}
	if s := firstErrors(res); s != "" {
		notes = append(notes, s)
	}
	return f, strings.Join(notes, "; "), nil
}

// cpuOf sums the CPU times of pids (a process that cannot be read counts 0).
func cpuOf(pids []int) harness.CPUTime {
	var t harness.CPUTime
	for _, pid := range pids {
		c, _ := harness.CPUTimes(pid)
		t = addCPU(t, c)
	}
	return t
}

// addCPU returns a + b.
func addCPU(a, b harness.CPUTime) harness.CPUTime {
	return harness.CPUTime{Total: a.Total + b.Total, User: a.User + b.User, Sys: a.Sys + b.Sys}
}

// --- ws echo ---

func runEcho(e *Env, s harness.ServerInfo, p *harness.Proc) (Figures, string, error) {
	// Warm-up with a few connections.
	w, _, err := spawnReady(e, p, min(e.plan.EchoConns, 100), time.Minute, "-mode", "ws-echo", "-duration", e.plan.Warm.String())
	if err != nil {
		return nil, "", fmt.Errorf("warm-up: %v", err)
	}
	w.send("go")
	w.wait(proto.EvResult, e.plan.Warm+30*time.Second)
	w.stop()
	w.kill()

	cs, ready, err := spawnReady(e, p, e.plan.EchoConns, 2*time.Minute, "-mode", "ws-echo", "-duration", e.plan.EchoDur.String())
	if err != nil {
		return nil, "", err
	}
	defer cs.kill()
	_, failed := sumConns(ready)
	cpu0, _ := harness.CPUTimes(p.PID())
	t0 := time.Now()
	cs.send("go")
	res, err := cs.wait(proto.EvResult, e.plan.EchoDur+time.Minute)
	wall := time.Since(t0).Seconds()
	cpuT, _ := harness.CPUTimes(p.PID())
	cpuD := cpuT.Sub(cpu0)
	cs.stop()
	if err != nil {
		return nil, "", err
	}
	var msgs int64
	var secs float64
	for _, ev := range res {
		msgs += ev.Messages
		secs = max(secs, ev.Seconds)
	}
	h := mergeHist(res)
	f := Figures{"mps": float64(msgs) / secs, "p99": float64(h.ValueAtQuantile(99)), "cpu": 100 * cpuD.Total / wall}
	if cpuD.Total > 0 {
		f["eff"] = float64(msgs) / cpuD.Total
	}
	addProfile(f, cpuD, float64(msgs))
	var notes []string
	if failed > 0 {
		notes = append(notes, fmt.Sprintf("%d conns failed", failed))
	}
	if s := firstErrors(res); s != "" {
		notes = append(notes, s)
	}
	return f, strings.Join(notes, "; "), nil
}

// --- chunked ---

func runChunked(e *Env, s harness.ServerInfo, p *harness.Proc) (Figures, string, error) {
	run := func(d time.Duration) ([]proto.Event, harness.CPUTime, float64, error) {
		cs, _, err := spawnReady(e, p, 1, time.Minute, "-mode", "chunked", "-duration", d.String())
		if err != nil {
			return nil, harness.CPUTime{}, 0, err
		}
		defer cs.kill()
		cpu0, _ := harness.CPUTimes(p.PID())
		t0 := time.Now()
		cs.send("go")
		res, err := cs.wait(proto.EvResult, d+2*time.Minute)
		wall := time.Since(t0).Seconds()
		cpu1, _ := harness.CPUTimes(p.PID())
		cs.stop()
		return res, cpu1.Sub(cpu0), wall, err
	}
	if _, _, _, err := run(e.plan.Warm); err != nil {
		return nil, "", fmt.Errorf("warm-up: %v", err)
	}
	res, cpuD, wall, err := run(e.plan.ChunkDur)
	if err != nil {
		return nil, "", err
	}
	ev := res[0]
	mb := float64(ev.Bytes) / 1e6
	cpu := cpuD.Total
	f := Figures{"mbps": mb / ev.Seconds, "cpu": 100 * cpu / wall}
	if cpu > 0 {
		f["eff"] = mb / cpu
	}
	addProfile(f, cpuD, mb)
	if ev.BadBodies > 0 {
		// A wrong size or off-spec chunk sizes: not comparable, so no figures.
		return nil, "", fmt.Errorf("%d of %d downloads bad: %s", ev.BadBodies, ev.Messages, strings.Join(ev.Errors, "; "))
	}
	note := ""
	if len(ev.Errors) > 0 {
		note = strings.Join(ev.Errors, "; ")
	}
	return f, note, nil
}
