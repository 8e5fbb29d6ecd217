package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamd/streamd/benchmarks/internal/client"
	"github.com/streamd/streamd/benchmarks/internal/harness"
	"github.com/streamd/streamd/benchmarks/internal/proto"
)

// The cluster scenarios (-cluster): streamd nodes sharing topics through
// one nats-server with JetStream (servers/streamd -nats, natsbroker), the
// measurements DESIGN §7's cluster row and issue 9 ask for:
//
//   - cluster-fanout: one publish on node A → N SSE subscribers spread
//     evenly over nodes A and B, against the same N on one node without
//     NATS, in the same run (rounds interleave the two);
//   - cluster-publish: acknowledged POST /publish per CPU-second, on one node
//     without NATS, and on node A of a cluster without and with
//     subscribers (one per topic on each node);
//   - cluster-c45k: three nodes on one port (SO_REUSEPORT), N idle SSE
//     streams over them, RSS per stream per process, one publish → all N.
//
// Every server process (the streamd nodes and nats-server) runs on CPU 0
// when pinned, the load clients and this driver on CPU 1: the cluster has
// the single node's one CPU, shared by its three processes.

// ClusterPlan sizes a -cluster run.
type ClusterPlan struct {
	Name        string
	Repeats     int           // rounds of cluster-fanout and cluster-publish
	FanoutConns int           // subscribers per run, spread over the nodes
	FanoutPubs  int           // measured publishes
	FanoutWarm  int           // warm-up publishes
	PubTopics   int           // concurrent publishers, one topic each
	PubWarm     time.Duration // unmeasured publishing first
	PubDur      time.Duration // measured publishing
	CConns      int           // cluster-c45k streams
	CNodes      int           // cluster-c45k processes on the port
}

var (
	clusterFullPlan = ClusterPlan{Name: "full", Repeats: 5, FanoutConns: 10000, FanoutPubs: 50, FanoutWarm: 3,
		PubTopics: 16, PubWarm: time.Second, PubDur: 5 * time.Second, CConns: 45000, CNodes: 3}
	clusterSmokePlan = ClusterPlan{Name: "smoke", Repeats: 1, FanoutConns: 200, FanoutPubs: 5, FanoutWarm: 2,
		PubTopics: 4, PubWarm: 200 * time.Millisecond, PubDur: time.Second, CConns: 600, CNodes: 3}
)

// Cluster scenario names (-scenarios with -cluster).
const (
	clusterFanout  = "cluster-fanout"
	clusterPublish = "cluster-publish"
	clusterC45k    = "cluster-c45k"
)

var clusterNames = []string{clusterFanout, clusterPublish, clusterC45k}

// Configurations of the runs.
const (
	cfgSingle      = "single node, in-memory"
	cfgCluster     = "2 nodes + NATS"
	cfgSingleNoSub = "single node, in-memory, no subscribers"
	cfgClusterNone = "2 nodes + NATS, no subscribers"
	cfgClusterSubs = "2 nodes + NATS, 1 subscriber per topic on each node"
)

// clusterSchema names the layout of results/cluster-*.json.
const clusterSchema = "streamd-bench-cluster/1"

// ClusterReport is a -cluster run, as written to results/cluster-<git
// describe>.json: every run with its processes' command lines, the load
// average as it started, and all its figures.
type ClusterReport struct {
	Schema    string         `json:"schema"`
	Command   string         `json:"command"`
	Code      string         `json:"code"`   // git describe --always, "-dirty" if the code differs (gitDescribe)
	Commit    string         `json:"commit"` // full hash of HEAD
	Flags     []FlagValue    `json:"flags"`
	Plan      map[string]any `json:"plan"`
	Machine   Machine        `json:"machine"`
	Pinned    bool           `json:"pinned"`
	LoadStart string         `json:"load_start"`
	LoadEnd   string         `json:"load_end"`
	Started   time.Time      `json:"started"`
	Elapsed   string         `json:"elapsed"`
	Partial   bool           `json:"partial"`
	Runs      []ClusterRun   `json:"runs"`
}

// ClusterRun is one run of one configuration.
type ClusterRun struct {
	Scenario string    `json:"scenario"`
	Config   string    `json:"config"`
	Round    int       `json:"round"`
	Started  time.Time `json:"started"`
	Load     string    `json:"load"`
	Procs    []ProcRec `json:"procs"`
	Figures  Figures   `json:"figures"`
	PerProc  []PerProc `json:"per_proc,omitempty"`
	Notes    []string  `json:"notes,omitempty"`
	Err      string    `json:"error,omitempty"`
	Elapsed  string    `json:"elapsed"`
}

// ProcRec is a process of a run: its role and exact command line.
type ProcRec struct {
	Role string   `json:"role"`
	Args []string `json:"args"`
}

// PerProc is one server process's figures in a run.
type PerProc struct {
	Role    string  `json:"role"`
	Figures Figures `json:"figures"`
}

func (r *ClusterRun) addProc(role string, p *harness.Proc) {
	r.Procs = append(r.Procs, ProcRec{Role: role, Args: p.Args})
}

func (r *ClusterRun) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// clusterEnv is what the cluster runs share.
type clusterEnv struct {
	*Env
	plan ClusterPlan
	nats string // nats-server binary
}

// startNATS starts a fresh nats-server with its own store directory.
func (c *clusterEnv) startNATS(r *ClusterRun) (*harness.Proc, error) {
	dir, err := os.MkdirTemp(c.tmp, "js-")
	if err != nil {
		return nil, err
	}
	p, err := harness.StartNATS(c.nats, dir, c.serverCPU)
	if err != nil {
		return nil, err
	}
	r.addProc("nats-server", p)
	return p, nil
}

// startNode starts a streamd node (the benchmark server) with extra flags.
func (c *clusterEnv) startNode(r *ClusterRun, role string, o harness.StartOpts) (*harness.Proc, error) {
	o.CPU, o.Loops = c.serverCPU, c.loops
	p, err := harness.Start("streamd", c.bins["streamd"], o)
	if err != nil {
		return nil, err
	}
	r.addProc(role, p)
	return p, nil
}

func stopAll(ps []*harness.Proc) {
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i] != nil {
			ps[i].Stop()
		}
	}
}

// runCluster runs the selected cluster scenarios and returns the report;
// after each run it calls save (may be nil) with the report so far.
func runCluster(env *Env, natsBin string, plan ClusterPlan, want map[string]bool, save func(*ClusterReport)) *ClusterReport {
	c := &clusterEnv{Env: env, plan: plan, nats: natsBin}
	rep := &ClusterReport{Schema: clusterSchema, Command: commandLine(), Code: gitDescribe(env.root), Commit: gitCommit(env.root),
		Flags: flagValues(), Plan: planMap2(plan), Machine: machine(), Pinned: env.pinned, LoadStart: loadavg(), Started: time.Now().UTC(), Partial: true}
	do := func(sc, cfg string, round int, fn func(*ClusterRun) error) {
		r := &ClusterRun{Scenario: sc, Config: cfg, Round: round, Started: time.Now().UTC(), Load: loadavg(), Figures: Figures{}}
		logf("%s: %s (round %d) load %s", sc, cfg, round, r.Load)
		t0 := time.Now()
		if err := fn(r); err != nil {
			r.Err = err.Error()
			logf("%s: %s: ERROR %v", sc, cfg, err)
		} else {
			logf("%s: %s: %s %s", sc, cfg, fmtClusterFigures(r.Figures), strings.Join(r.Notes, "; "))
		}
		r.Elapsed = time.Since(t0).Round(time.Millisecond).String()
		rep.Runs = append(rep.Runs, *r)
		rep.LoadEnd = loadavg()
		rep.Elapsed = time.Since(rep.Started).Round(time.Second).String()
		if save != nil {
			save(rep)
		}
	}
	sel := func(name string) bool { return want == nil || want[name] }
	for round := 1; round <= plan.Repeats; round++ {
		if sel(clusterFanout) {
			do(clusterFanout, cfgSingle, round, func(r *ClusterRun) error { return c.fanout(r, false) })
			do(clusterFanout, cfgCluster, round, func(r *ClusterRun) error { return c.fanout(r, true) })
		}
		if sel(clusterPublish) {
			do(clusterPublish, cfgSingleNoSub, round, func(r *ClusterRun) error { return c.publish(r, false, false) })
			do(clusterPublish, cfgClusterNone, round, func(r *ClusterRun) error { return c.publish(r, true, false) })
			do(clusterPublish, cfgClusterSubs, round, func(r *ClusterRun) error { return c.publish(r, true, true) })
		}
	}
	if sel(clusterC45k) {
		do(clusterC45k, fmt.Sprintf("%d nodes on one port + NATS", plan.CNodes), 1, c.c45k)
	}
	rep.Partial = false
	rep.LoadEnd = loadavg()
	rep.Elapsed = time.Since(rep.Started).Round(time.Second).String()
	if save != nil {
		save(rep)
	}
	return rep
}

func planMap2(p ClusterPlan) map[string]any {
	return map[string]any{"Name": p.Name, "Repeats": p.Repeats, "FanoutConns": p.FanoutConns, "FanoutPubs": p.FanoutPubs,
		"FanoutWarm": p.FanoutWarm, "PubTopics": p.PubTopics, "PubWarm": p.PubWarm.String(), "PubDur": p.PubDur.String(),
		"CConns": p.CConns, "CNodes": p.CNodes}
}

// --- cluster-fanout ---

// fanout is the fanout scenario's measurement (measureFanout: one publish
// at a time, each waited for at every subscriber) with the subscribers
// spread over two nodes sharing the topic through NATS and every publish
// sent to node A, or, for the reference, all on one node without NATS.
// Server CPU is the sum over every server process (nodes and nats-server).
func (c *clusterEnv) fanout(r *ClusterRun, cluster bool) error {
	var procs []*harness.Proc
	defer func() { stopAll(procs) }()
	var addrs []string
	if cluster {
		ns, err := c.startNATS(r)
		if err != nil {
			return err
		}
		procs = append(procs, ns)
		for _, role := range []string{"node A", "node B"} {
			p, err := c.startNode(r, role, harness.StartOpts{Extra: []string{"-nats", "nats://" + ns.Addr}})
			if err != nil {
				return err
			}
			procs = append(procs, p)
			addrs = append(addrs, p.Addr)
		}
	} else {
		p, err := c.startNode(r, "node", harness.StartOpts{})
		if err != nil {
			return err
		}
		procs = append(procs, p)
		addrs = append(addrs, p.Addr)
	}
	n, pubs, warm := c.plan.FanoutConns, c.plan.FanoutPubs, c.plan.FanoutWarm
	cs, err := spawnAddrs(c.Env, addrs, n, "-mode", "fanout", "-proto", "sse", "-expect", strconv.Itoa(pubs), "-warm", strconv.Itoa(warm))
	if err != nil {
		return err
	}
	defer cs.kill()
	ready, err := cs.wait(proto.EvReady, 3*time.Minute)
	if err != nil {
		return err
	}
	for i, ev := range ready {
		r.note("load client %d → %s: %d subscribers", i, nodeRole(addrs, i), ev.Conns)
	}
	var pids []int
	for _, p := range procs {
		pids = append(pids, p.PID())
	}
	cpu0 := cpuByProc(pids)
	f, note, err := measureFanout(cs, ready, func(seq int) error { return publish(addrs[0], seq) }, pids, n, pubs, warm)
	if err != nil {
		return err
	}
	if note != "" {
		r.note("%s", note)
	}
	// Per-process CPU over the whole run (warm-up included): where the
	// cluster's CPU goes.
	cpu1 := cpuByProc(pids)
	for i := range procs {
		r.PerProc = append(r.PerProc, PerProc{Role: r.Procs[i].Role, Figures: Figures{"cpu_s": cpu1[i].Sub(cpu0[i]).Total}})
	}
	r.Figures = f
	return nil
}

func nodeRole(addrs []string, i int) string {
	if len(addrs) == 1 {
		return "node"
	}
	return "node " + string(rune('A'+i%len(addrs)))
}

func cpuByProc(pids []int) []harness.CPUTime {
	out := make([]harness.CPUTime, len(pids))
	for i, pid := range pids {
		out[i], _ = harness.CPUTimes(pid)
	}
	return out
}

// --- cluster-publish ---

// publish measures acknowledged publishes: PubTopics goroutines of this
// driver, each with its own keep-alive connection to node A, POST
// /publish?topic=pub-<i> (64-byte bodies) back to back for PubDur after
// PubWarm. With NATS a 204 means JetStream stored the message (natsbroker
// waits for the ack; the node answers from a goroutine); without, that the
// hub took it. With subscribers, every topic has one SSE subscriber on
// each node, and every acknowledged message must reach both.
func (c *clusterEnv) publish(r *ClusterRun, cluster, subs bool) error {
	var procs []*harness.Proc
	defer func() { stopAll(procs) }()
	var roles []string
	var a, b *harness.Proc
	if cluster {
		ns, err := c.startNATS(r)
		if err != nil {
			return err
		}
		procs, roles = append(procs, ns), append(roles, "nats-server")
		for _, role := range []string{"node A", "node B"} {
			p, err := c.startNode(r, role, harness.StartOpts{Extra: []string{"-nats", "nats://" + ns.Addr}})
			if err != nil {
				return err
			}
			procs, roles = append(procs, p), append(roles, role)
		}
		a, b = procs[1], procs[2]
	} else {
		p, err := c.startNode(r, "node", harness.StartOpts{})
		if err != nil {
			return err
		}
		procs, roles = append(procs, p), append(roles, "node")
		a = p
	}
	topics := c.plan.PubTopics
	// Subscribers: one per topic on each node, counting data lines.
	var subConns []*client.SSEConn
	defer func() {
		for _, s := range subConns {
			s.Conn.Close()
		}
	}()
	type subCount struct {
		topic int
		node  string
		n     atomic.Int64
	}
	var counts []*subCount
	var readers sync.WaitGroup
	if subs {
		d := client.Dialer{}
		for _, p := range []*harness.Proc{a, b} {
			for t := range topics {
				s, err := d.DialSSE(p.Addr, "/sse?topic=pub-"+strconv.Itoa(t))
				if err != nil {
					return fmt.Errorf("subscriber: %v", err)
				}
				subConns = append(subConns, s)
				sc := &subCount{topic: t, node: p.Addr}
				counts = append(counts, sc)
				readers.Add(1)
				go func() {
					defer readers.Done()
					for {
						if _, err := s.ReadData(); err != nil {
							return
						}
						sc.n.Add(1)
					}
				}()
			}
		}
		time.Sleep(300 * time.Millisecond) // the nodes watch the topics (a new JetStream consumer)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: topics, MaxConnsPerHost: topics}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	body := bytes.Repeat([]byte("x"), 64)
	acked := make([]atomic.Int64, topics)
	var measured, failures atomic.Int64
	var firstErr atomic.Value
	var measuring, stop atomic.Bool
	var wg sync.WaitGroup
	for t := range topics {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := "http://" + a.Addr + "/publish?topic=pub-" + strconv.Itoa(t)
			// A request in flight when the interval ends is finished and
			// counted as acknowledged (not measured), so the delivery
			// check knows every message JetStream stored.
			for !stop.Load() {
				resp, err := hc.Post(url, "text/plain", bytes.NewReader(body))
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, "status "+strconv.Itoa(resp.StatusCode))
					continue
				}
				acked[t].Add(1)
				if measuring.Load() {
					measured.Add(1)
				}
			}
		}()
	}
	pids := make([]int, len(procs))
	for i, p := range procs {
		pids[i] = p.PID()
	}
	time.Sleep(c.plan.PubWarm)
	cpu0 := cpuByProc(pids)
	t0 := time.Now()
	measuring.Store(true)
	time.Sleep(c.plan.PubDur)
	measuring.Store(false)
	wall := time.Since(t0).Seconds()
	cpu1 := cpuByProc(pids)
	stop.Store(true)
	wg.Wait()
	n := float64(measured.Load())
	f := Figures{"pps": n / wall, "failures": float64(failures.Load())}
	var total harness.CPUTime
	for i := range procs {
		d := cpu1[i].Sub(cpu0[i])
		total = addCPU(total, d)
		pf := Figures{"cpu_s": d.Total, "cpu_pct": 100 * d.Total / wall}
		if n > 0 {
			pf["us_per_pub"] = 1e6 * d.Total / n
		}
		r.PerProc = append(r.PerProc, PerProc{Role: roles[i], Figures: pf})
	}
	ai := slices.Index(pids, a.PID())
	aCPU := cpu1[ai].Sub(cpu0[ai]).Total
	if aCPU > 0 {
		f["eff_node"] = n / aCPU
	}
	if total.Total > 0 {
		f["eff_all"] = n / total.Total
	}
	if cluster {
		ni := slices.Index(roles, "nats-server")
		if d := cpu1[ni].Sub(cpu0[ni]).Total; d > 0 {
			f["eff_nats"] = n / d
		}
		bi := slices.Index(roles, "node B")
		f["us_b_per_msg"] = 1e6 * cpu1[bi].Sub(cpu0[bi]).Total / max(n, 1)
	}
	if s, ok := firstErr.Load().(string); ok {
		r.note("%d failed publishes, first: %s", failures.Load(), s)
	}
	if subs {
		// Every acknowledged message (warm-up included) must reach both
		// subscribers of its topic; wait at most 10 s for the last ones.
		want, got := int64(0), int64(0)
		deadline := time.Now().Add(10 * time.Second)
		for {
			want, got = 0, 0
			for _, sc := range counts {
				want += acked[sc.topic].Load()
				got += min(sc.n.Load(), acked[sc.topic].Load())
			}
			if got == want || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		f["delivered"] = 100 * float64(got) / float64(max(want, 1))
		var extra int64
		for _, sc := range counts {
			extra += max(0, sc.n.Load()-acked[sc.topic].Load())
		}
		if got != want {
			r.note("delivered %d of %d acknowledged messages to their subscribers", got, want)
		}
		if extra > 0 {
			r.note("%d deliveries more than acknowledged publishes (a publish that failed at the client after JetStream stored it, or delivered twice)", extra)
		}
	}
	r.Figures = f
	return nil
}

// --- cluster-c45k ---

// c45k starts CNodes streamd processes on one port (-reuseport) sharing
// topics through NATS, opens CConns idle SSE streams to the port (the
// kernel spreads them over the processes), measures each process's RSS
// growth per stream it holds (its descriptors before and after), then
// publishes once and counts deliveries.
func (c *clusterEnv) c45k(r *ClusterRun) error {
	var procs []*harness.Proc
	defer func() { stopAll(procs) }()
	ns, err := c.startNATS(r)
	if err != nil {
		return err
	}
	procs = append(procs, ns)
	port, err := harness.FreePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var nodes []*harness.Proc
	for i := range c.plan.CNodes {
		p, err := c.startNode(r, fmt.Sprintf("node %d", i+1), harness.StartOpts{Addr: addr, Listeners: i + 1,
			Extra: []string{"-nats", "nats://" + ns.Addr, "-reuseport"}})
		if err != nil {
			return err
		}
		procs = append(procs, p)
		nodes = append(nodes, p)
	}
	n := c.plan.CConns
	// Warm-up as in sse-idle: streams opened and closed first, so each
	// baseline has what a first stream touches (≈ 100 per process).
	if w, err := spawnAddrs(c.Env, []string{addr}, min(n, 100*len(nodes)), "-mode", "sse-idle"); err == nil {
		if _, err := w.wait(proto.EvReady, time.Minute); err == nil {
			w.stop()
			_, _ = w.wait(proto.EvResult, 30*time.Second)
		}
		w.kill()
	}
	time.Sleep(time.Second)
	rss0, fd0 := make([]int64, len(nodes)), make([]int, len(nodes))
	for i, p := range nodes {
		if rss0[i], err = harness.RSSKiB(p.PID()); err != nil {
			return err
		}
		fd0[i], _ = harness.FDs(p.PID())
	}
	natsRSS0, _ := harness.RSSKiB(ns.PID())
	t0 := time.Now()
	cs, err := spawnAddrs(c.Env, []string{addr}, n, "-mode", "fanout", "-proto", "sse", "-expect", "1", "-warm", "0")
	if err != nil {
		return err
	}
	defer cs.kill()
	ready, err := cs.wait(proto.EvReady, 5*time.Minute)
	if err != nil {
		return err
	}
	dial := time.Since(t0)
	conns, failed := sumConns(ready)
	if conns == 0 {
		return errors.New("no stream opened")
	}
	time.Sleep(2 * time.Second) // settle: lazy allocations, GC
	var held int
	var grew int64
	for i, p := range nodes {
		rss1, err := harness.RSSKiB(p.PID())
		if err != nil {
			return err
		}
		fd1, _ := harness.FDs(p.PID())
		streams := fd1 - fd0[i]
		held += streams
		grew += rss1 - rss0[i]
		pf := Figures{"streams": float64(streams), "fds": float64(fd1), "rss_mib": float64(rss1) / 1024, "rss0_mib": float64(rss0[i]) / 1024}
		if streams > 0 {
			pf["kib"] = float64(rss1-rss0[i]) / float64(streams)
		}
		r.PerProc = append(r.PerProc, PerProc{Role: fmt.Sprintf("node %d", i+1), Figures: pf})
	}
	natsRSS1, _ := harness.RSSKiB(ns.PID())
	r.PerProc = append(r.PerProc, PerProc{Role: "nats-server", Figures: Figures{"rss_mib": float64(natsRSS1) / 1024, "rss0_mib": float64(natsRSS0) / 1024}})
	// One publish; wait until every load client has it at every stream.
	tp := time.Now()
	if err := publish(addr, 0); err != nil {
		return err
	}
	_, waitErr := cs.wait(proto.EvSeq, time.Minute)
	all := time.Since(tp)
	time.Sleep(200 * time.Millisecond)
	cs.stop()
	res, err := cs.wait(proto.EvResult, time.Minute)
	if err != nil {
		return err
	}
	var delivered, expected int64
	for _, ev := range res {
		delivered += ev.Messages
		expected += ev.Expected
	}
	h := mergeHist(res)
	f := Figures{"conns": float64(conns), "held": float64(held), "delivered": 100 * float64(delivered) / float64(max(expected, 1)),
		"deliveries": float64(delivered), "p50": float64(h.ValueAtQuantile(50)), "p99": float64(h.ValueAtQuantile(99)),
		"max": float64(h.Max()), "all_ms": float64(all.Milliseconds()), "dial_s": dial.Seconds()}
	if held > 0 {
		f["kib"] = float64(grew) / float64(held)
	}
	if waitErr != nil {
		r.note("not every stream had the publish: %v", waitErr)
	}
	if failed > 0 {
		r.note("%d of %d streams failed to open: %s", failed, n, firstErrors(res))
	}
	if held != conns {
		r.note("the nodes hold %d more descriptors than before, %d streams were opened", held, conns)
	}
	r.Figures = f
	return nil
}

// --- report ---

// clusterCols are the figures shown per scenario, in order.
var clusterCols = map[string][]Column{
	clusterFanout: {colP50, colP99, colMax, colDelivPS, colDeliv,
		{Key: "eff", Label: "deliveries per server CPU-s (all server processes)", Digits: 0}},
	clusterPublish: {{Key: "pps", Label: "acked publishes/s", Digits: 0},
		{Key: "eff_node", Label: "per node-A CPU-s", Digits: 0},
		{Key: "eff_all", Label: "per CPU-s of all server processes", Digits: 0},
		{Key: "eff_nats", Label: "per nats-server CPU-s", Digits: 0},
		{Key: "us_b_per_msg", Label: "node B µs CPU per message", Digits: 1, LowerBetter: true},
		{Key: "delivered", Label: "delivered %", Digits: 2}},
	clusterC45k: {{Key: "conns", Label: "streams open", Digits: 0}, {Key: "kib", Label: "RSS KiB per stream (all nodes)", Digits: 2, LowerBetter: true},
		{Key: "deliveries", Label: "deliveries of the publish", Digits: 0}, colDeliv,
		{Key: "all_ms", Label: "publish → last delivery ms", Digits: 0, LowerBetter: true}, colP50, colP99,
		{Key: "dial_s", Label: "time to open all s", Digits: 0}},
}

func fmtClusterFigures(f Figures) string {
	var parts []string
	for _, k := range sortedKeys(f) {
		parts = append(parts, fmt.Sprintf("%s=%s", k, fmtNum(f[k], 2)))
	}
	return strings.Join(parts, " ")
}

func sortedKeys(f Figures) []string {
	var ks []string
	for k := range f {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// clusterMedians returns, per configuration of scenario sc, the median of
// each figure over its successful runs, and those runs' count.
func clusterMedians(rep *ClusterReport, sc string) (map[string]Figures, map[string]int, []string) {
	runs := map[string][]Figures{}
	var order []string
	for _, r := range rep.Runs {
		if r.Scenario != sc {
			continue
		}
		if !slices.Contains(order, r.Config) {
			order = append(order, r.Config)
		}
		if r.Err == "" {
			runs[r.Config] = append(runs[r.Config], r.Figures)
		}
	}
	med, cnt := map[string]Figures{}, map[string]int{}
	for cfg, fs := range runs {
		m := Figures{}
		keys := map[string]bool{}
		for _, f := range fs {
			for k := range f {
				keys[k] = true
			}
		}
		for k := range keys {
			if v, _, ok := stats(fs, k); ok {
				m[k] = v
			}
		}
		med[cfg], cnt[cfg] = m, len(fs)
	}
	return med, cnt, order
}

const (
	clusterStart = "<!-- bench:cluster:start (generated by `go run ./cmd/bench -cluster`; -full keeps it) -->"
	clusterEnd   = "<!-- bench:cluster:end -->"
)

// renderCluster renders the report as the "Cluster (NATS JetStream)"
// section, markers included; rawRel is the raw data file's path relative
// to the document.
func renderCluster(rep *ClusterReport, rawRel string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("%s\n## Cluster (NATS JetStream)\n\n", clusterStart)
	if rep.Partial {
		w("> **Partial:** the run was still going when this was written.\n\n")
	}
	w("Written by its own run, not by `-full` (which keeps this section as it is).\n\n")
	w("- **Code:** `%s` (`git describe --always`, `-dirty` if code differs from it; commit %s)", rep.Code, rep.Commit)
	if strings.HasSuffix(rep.Code, "-dirty") {
		w(" **plus uncommitted changes**")
	}
	w("\n- **Date:** %s (took %s)\n", rep.Started.Format("2006-01-02 15:04 UTC"), rep.Elapsed)
	w("- **Command:** `%s` (from `benchmarks/`)\n", rep.Command)
	w("- **Flags:** %s\n", fmtFlags(rep.Flags))
	w("- **Machine:** %s, %d cores, Linux %s; %s\n", rep.Machine.CPU, rep.Machine.Cores, rep.Machine.Kernel, rep.Machine.Go)
	w("- **Plan:** %v\n", planLine(rep.Plan))
	if rep.Pinned {
		w("- **Pinning:** every server process (the streamd nodes, each `-loops 1`, and nats-server) on CPU 0 (`taskset -c 0`); load clients and driver on CPU 1. The cluster has the single node's one CPU, shared by its three processes.\n")
	} else {
		w("- **Pinning:** none (`-nopin`): servers, nats-server and load share the CPUs.\n")
	}
	w("- **Load average** (1/5/15 min) at start: %s, at end: %s", rep.LoadStart, rep.LoadEnd)
	if loadNoisy(rep.LoadStart) || loadNoisy(rep.LoadEnd) {
		w(" — **other work was running on the machine; treat figures as noisy**")
	}
	if rawRel != "" {
		w("\n- **Raw data:** [`%s`](%s): every run's figures, per-process figures, load average, start time and the exact command line of every process", rawRel, rawRel)
	}
	w("\n")
	w("- **Broker:** nats-server v2.15.2 (`-js -sd <fresh temp dir>`, file storage, built from `benchmarks/go.mod`'s tool requirement), one per run; streamd nodes are `servers/streamd -nats nats://…` (natsbroker defaults: stream STREAMD, 1 replica, file storage)\n\n")

	// Fan-out.
	if med, cnt, order := clusterMedians(rep, clusterFanout); len(order) > 0 {
		w("### One publish on node A → N SSE subscribers on nodes A and B\n\n")
		w("%d subscribers of one topic, %s; %d measured publishes (after %d warm-up), each sent to node A and waited for at every subscriber before the next; latency = receipt − send stamp in the payload (as `fanout`). "+
			"In the cluster every delivery, node A's included, comes back from JetStream: POST /publish → node A → JetStream (ack → 204) → each node's consumer → its subscribers. "+
			"Reference: the same subscribers on one node without `-nats`, in the same rounds. Deliveries per server CPU-s sum every server process's CPU.\n\n",
			planInt(rep.Plan, "FanoutConns"), "spread evenly over the nodes (load clients of ≤ 5,000 streams, alternately on A and B, each from its own source address)",
			planInt(rep.Plan, "FanoutPubs"), planInt(rep.Plan, "FanoutWarm"))
		writeClusterTable(&b, clusterCols[clusterFanout], med, cnt, order, rep, clusterFanout)
		s, c := med[cfgSingle], med[cfgCluster]
		if s["p99"] > 0 && c["p99"] > 0 {
			ratio := c["p99"] / s["p99"]
			verdict := "**met**"
			if ratio > 1.5 {
				verdict = "**not met**"
			}
			all := c["delivered"] == 100 && s["delivered"] == 100
			w("\n**Target (DESIGN §7):** 100%% delivered; cluster p99 ≤ 1.5× single node — %s: p99 %s µs vs %s µs = **%.2f×** (p50 %.2f×); delivered %s%% / %s%%%s. Per round (cluster ÷ single p99): %s.\n",
				verdict, fmtNum(c["p99"], 0), fmtNum(s["p99"], 0), ratio, c["p50"]/max(s["p50"], 1), fmtNum(c["delivered"], 2), fmtNum(s["delivered"], 2),
				map[bool]string{true: "", false: " (**not all delivered**)"}[all], roundRatios(rep, clusterFanout, cfgCluster, cfgSingle, "p99"))
			if c["eff"] > 0 && s["eff"] > 0 {
				w("\nCPU: the cluster spends %.2f× the single node's server CPU per delivery (%s vs %s deliveries per CPU-s, all server processes).\n",
					s["eff"]/c["eff"], fmtNum(c["eff"], 0), fmtNum(s["eff"], 0))
			}
		}
		w("\n")
	}
	// Publish.
	if med, cnt, order := clusterMedians(rep, clusterPublish); len(order) > 0 {
		w("### Acknowledged publishes per CPU-second\n\n")
		w("%d publishers in the driver, each on its own keep-alive connection to node A and its own topic (`pub-<i>`), POST /publish with a 64-byte body back to back, %s measured after %s; counted: 204 answers in the measured interval. "+
			"With NATS a 204 means JetStream stored the message (the node answers from a goroutine after natsbroker's Publish returns with the ack; natsbroker has one publish per topic in flight per process); without, that the hub took it. "+
			"*per node-A CPU-s*: acked publishes ÷ node A's CPU time (the HTTP request, the publish and, with subscribers, its own deliveries); *per CPU-s of all server processes*: ÷ (node A + node B + nats-server); "+
			"*node B µs per message*: node B's CPU per acknowledged message — with a subscriber per topic on B, what receiving a message from JetStream and delivering it to one local subscriber costs a node.\n\n",
			planInt(rep.Plan, "PubTopics"), planStr(rep.Plan, "PubDur"), planStr(rep.Plan, "PubWarm"))
		writeClusterTable(&b, clusterCols[clusterPublish], med, cnt, order, rep, clusterPublish)
		w("\nCPU per acknowledged publish by process (medians, µs):\n\n| configuration | process | µs CPU per publish | CPU %% |\n|---|---|---:|---:|\n")
		for _, cfg := range order {
			for _, role := range []string{"node", "node A", "node B", "nats-server"} {
				us, pct, ok := perProcMedian(rep, clusterPublish, cfg, role)
				if ok {
					w("| %s | %s | %s | %s |\n", cfg, role, fmtNum(us, 1), fmtNum(pct, 0))
				}
			}
		}
		w("\n")
	}
	// C45k.
	for _, r := range rep.Runs {
		if r.Scenario != clusterC45k {
			continue
		}
		w("### C45k: %d idle SSE streams over %d processes on one port (SO_REUSEPORT), one publish → all\n\n", planInt(rep.Plan, "CConns"), planInt(rep.Plan, "CNodes"))
		w("`servers/streamd -reuseport -nats …` ×%d on one port (`-loops 1` each), the kernel spreading connections over them; load clients of ≤ 5,000 streams each from its own source address (127.0.0.2, …). "+
			"Baseline per process after ≈ 100 streams per process were opened and closed; RSS growth ÷ the process's descriptor growth (the streams it holds), 2 s after all are open. Then one POST /publish to the port; counted: deliveries at the load clients.\n\n",
			planInt(rep.Plan, "CNodes"))
		if r.Err != "" {
			w("**Error:** %s\n\n", mdEscape(r.Err))
		}
		cols := clusterCols[clusterC45k]
		w("|")
		for _, c := range cols {
			w(" %s |", c.Label)
		}
		w("\n|")
		for range cols {
			w("---:|")
		}
		w("\n|")
		for _, c := range cols {
			if v, ok := r.Figures[c.Key]; ok {
				w(" %s |", fmtNum(v, c.Digits))
			} else {
				w(" — |")
			}
		}
		w("\n\n| process | streams held | descriptors | RSS before MiB | RSS MiB | RSS KiB per stream |\n|---|---:|---:|---:|---:|---:|\n")
		for _, pp := range r.PerProc {
			g := func(k string, d int) string {
				if v, ok := pp.Figures[k]; ok {
					return fmtNum(v, d)
				}
				return "—"
			}
			w("| %s | %s | %s | %s | %s | %s |\n", pp.Role, g("streams", 0), g("fds", 0), g("rss0_mib", 1), g("rss_mib", 1), g("kib", 2))
		}
		if len(r.Notes) > 0 {
			w("\nNotes: %s\n", mdEscape(strings.Join(r.Notes, "; ")))
		}
		w("\nLoad average as the run started: %s.\n\n", r.Load)
	}
	w("%s\n", clusterEnd)
	return b.String()
}

func writeClusterTable(b *strings.Builder, cols []Column, med map[string]Figures, cnt map[string]int, order []string, rep *ClusterReport, sc string) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("| configuration |")
	for _, c := range cols {
		w(" %s |", c.Label)
	}
	w(" runs | load (1 min) at start | notes |\n|---|")
	for range cols {
		w("---:|")
	}
	w("---:|---|---|\n")
	for _, cfg := range order {
		w("| %s |", cfg)
		for _, c := range cols {
			if v, ok := med[cfg][c.Key]; ok {
				w(" %s |", fmtNum(v, c.Digits))
			} else {
				w(" — |")
			}
		}
		var loads, notes []string
		for _, r := range rep.Runs {
			if r.Scenario != sc || r.Config != cfg {
				continue
			}
			loads = append(loads, strings.Fields(r.Load + " ?")[0])
			if r.Err != "" {
				notes = append(notes, "round "+strconv.Itoa(r.Round)+" error: "+r.Err)
			}
			for _, n := range r.Notes {
				if !strings.HasPrefix(n, "load client ") && !slices.Contains(notes, n) {
					notes = append(notes, n)
				}
			}
		}
		w(" %d | %s | %s |\n", cnt[cfg], strings.Join(loads, ", "), mdEscape(strings.Join(notes, "; ")))
	}
}

// roundRatios lists the per-round ratios num ÷ den of key and, with more
// than one, their median (paired: each round's two runs ran back to back,
// so the load they saw was alike).
func roundRatios(rep *ClusterReport, sc, num, den, key string) string {
	byRound := map[int]map[string]float64{}
	for _, r := range rep.Runs {
		if r.Scenario == sc && r.Err == "" {
			if byRound[r.Round] == nil {
				byRound[r.Round] = map[string]float64{}
			}
			byRound[r.Round][r.Config] = r.Figures[key]
		}
	}
	var out []string
	var rs []Figures
	for round := 1; round <= len(byRound)+1; round++ {
		m := byRound[round]
		if m[num] > 0 && m[den] > 0 {
			out = append(out, fmt.Sprintf("%.2f×", m[num]/m[den]))
			rs = append(rs, Figures{"r": m[num] / m[den]})
		}
	}
	if len(out) == 0 {
		return "—"
	}
	s := strings.Join(out, ", ")
	if med, _, ok := stats(rs, "r"); ok && len(rs) > 1 {
		s += fmt.Sprintf("; their median %.2f×", med)
	}
	return s
}

func perProcMedian(rep *ClusterReport, sc, cfg, role string) (us, pct float64, ok bool) {
	var fs []Figures
	for _, r := range rep.Runs {
		if r.Scenario != sc || r.Config != cfg || r.Err != "" {
			continue
		}
		for _, pp := range r.PerProc {
			if pp.Role == role {
				fs = append(fs, pp.Figures)
			}
		}
	}
	us, _, ok1 := stats(fs, "us_per_pub")
	pct, _, ok2 := stats(fs, "cpu_pct")
	return us, pct, ok1 && ok2
}

func planLine(p map[string]any) string {
	return fmt.Sprintf("%v — fan-out %v subscribers × %v publishes (+%v warm-up), publish %v publishers × %v (after %v), C45k %v streams over %v nodes; %v round(s) of fan-out and publish, configurations interleaved within each round, median reported",
		p["Name"], p["FanoutConns"], p["FanoutPubs"], p["FanoutWarm"], p["PubTopics"], p["PubDur"], p["PubWarm"], p["CConns"], p["CNodes"], p["Repeats"])
}

func planInt(p map[string]any, k string) int {
	switch v := p[k].(type) {
	case int:
		return v
	case float64:
		return int(v)
	}
	return 0
}

func planStr(p map[string]any, k string) string { s, _ := p[k].(string); return s }

// --- files ---

// writeClusterFiles writes the raw data to jsonPath and the section into
// mdPath: between the cluster markers if it has them, else appended (a new
// file holds the section alone).
func writeClusterFiles(rep *ClusterReport, mdPath, jsonPath string) error {
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
	section := renderCluster(rep, rel)
	doc, err := os.ReadFile(mdPath)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.WriteFile(mdPath, spliceCluster(doc, section), 0o644)
}

// spliceCluster returns doc with its cluster section replaced by section,
// or with section appended when doc has none.
func spliceCluster(doc []byte, section string) []byte {
	i := bytes.Index(doc, []byte(clusterStart))
	j := bytes.Index(doc, []byte(clusterEnd))
	if i < 0 || j < i {
		out := append([]byte(nil), doc...)
		if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n\n")) {
			out = append(out, '\n')
		}
		return append(out, section...)
	}
	j += len(clusterEnd)
	if j < len(doc) && doc[j] == '\n' {
		j++
	}
	out := append([]byte(nil), doc[:i]...)
	out = append(out, section...)
	return append(out, doc[j:]...)
}

// clusterSection returns doc's cluster section, markers included, or "".
// Report.Write keeps it when it regenerates RESULTS.md.
func clusterSection(doc []byte) string {
	i := bytes.Index(doc, []byte(clusterStart))
	j := bytes.Index(doc, []byte(clusterEnd))
	if i < 0 || j < i {
		return ""
	}
	return string(doc[i:j+len(clusterEnd)]) + "\n"
}

// natsPkg is the nats-server main package, a tool requirement of
// benchmarks/go.mod (so its version is pinned there: v2.15.2).
const natsPkg = "github.com/nats-io/nats-server/v2"

// buildNATS builds nats-server into dir.
func buildNATS(root, dir string) (string, error) {
	bins, err := harness.Build(context.Background(), root, dir, map[string]string{"nats-server": natsPkg})
	if err != nil {
		return "", err
	}
	return bins["nats-server"], nil
}

// runClusterMode is -cluster: builds streamd, the load client and
// nats-server, runs the cluster scenarios and writes where the flags say.
func runClusterMode(root, scenarios string, smoke, noPin bool, repeats, conns int, out string, outSet bool) {
	plan := clusterFullPlan
	if smoke {
		plan = clusterSmokePlan
	}
	if repeats > 0 {
		plan.Repeats = repeats
	}
	if conns > 0 {
		plan.CConns = conns
	}
	want := splitSet(scenarios)
	for name := range want {
		if !slices.Contains(clusterNames, name) {
			fatalf("unknown cluster scenario %q (have %s)", name, strings.Join(clusterNames, ","))
		}
	}
	env, err := setup(root, map[string]bool{"streamd": true}, noPin, false)
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(env.tmp)
	if env.bins["streamd"] == "" {
		fatalf("streamd: %s", env.buildErr["streamd"])
	}
	logf("building nats-server (%s) ...", natsPkg)
	natsBin, err := buildNATS(root, env.tmp)
	if err != nil {
		fatalf("nats-server: %v", err)
	}
	// Only a plain run at the full plan lands in the committed files.
	plain := !smoke && want == nil && repeats == 0 && conns == 0 && !noPin && !outSet
	mdPath := filepath.Join(root, "out", "CLUSTER.md")
	switch {
	case plain:
		mdPath = filepath.Join(root, "RESULTS.md")
	case outSet:
		mdPath = out
		if !filepath.IsAbs(mdPath) {
			mdPath = filepath.Join(root, mdPath)
		}
		if filepath.Clean(mdPath) == filepath.Join(root, "RESULTS.md") {
			fatalf("only a plain -cluster run (all scenarios, the full plan) writes RESULTS.md's cluster section")
		}
	}
	var save func(*ClusterReport)
	var jsonPath string
	if !smoke {
		jsonPath = filepath.Join(filepath.Dir(mdPath), "results", "cluster-"+gitDescribe(root)+".json")
		save = func(rep *ClusterReport) {
			if err := writeClusterFiles(rep, mdPath, jsonPath); err != nil {
				fatalf("%v", err)
			}
		}
	}
	rep := runCluster(env, natsBin, plan, want, save)
	failed := 0
	for _, r := range rep.Runs {
		if r.Err != "" {
			failed++
		}
	}
	if smoke {
		fmt.Print(renderCluster(rep, ""))
	} else {
		logf("wrote the cluster section of %s and %s in %s", mdPath, jsonPath, rep.Elapsed)
	}
	if failed > 0 {
		fatalf("%d cluster run(s) failed", failed)
	}
}
