// Command sockmem measures the kernel memory an idle TCP connection costs:
// the figure SCALING.md uses. It opens N idle loopback connections, with the
// server ends held by one child process and the client ends spread over
// child processes of at most -per connections, each bound to its own
// source address (127.0.0.2, 127.0.0.3, …: the ~20k file limit per process
// and the 28k ephemeral ports per source address), and compares the
// kernel's accounting before and after:
//
//   - /proc/meminfo Slab (SReclaimable + SUnreclaim): all slab memory, the
//     headline figure;
//   - /proc/net/sockstat "TCP: inuse": how many TCP sockets were added (the
//     divisor; on loopback both ends are sockets of this machine, 2 per
//     connection) and "mem": pages of socket buffers (0 for idle sockets);
//   - /proc/slabinfo (readable by root only): the slab caches that grew, in
//     bytes of objects (active_objs × objsize) per socket.
//
// Each round opens the connections, waits -settle, reads the counters,
// closes everything and waits again; the figures are per round and their
// median. Other work on the machine allocates slab too: run it on a quiet
// machine, and read the spread between rounds.
//
// Usage, from benchmarks/:
//
//	go run ./cmd/sockmem                   # 10,000 connections, 3 rounds
//	go run ./cmd/sockmem -n 15000 -rounds 5
//	go run ./cmd/sockmem -addr 127.0.0.1:8080 -n 5000   # client ends only; the server ends are that server's
//	go run ./cmd/sockmem -json             # the same figures as one JSON object
//
// The text output is documented in README.md (section "Kernel memory per
// idle socket").
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	role   = flag.String("role", "", "internal: server | dial (child processes)")
	n      = flag.Int("n", 10000, "idle connections per round (one server process holds them: ≤ 15000)")
	per    = flag.Int("per", 5000, "connections per dialing process (each on its own source address)")
	rounds = flag.Int("rounds", 3, "rounds; the figures are their median")
	settle = flag.Duration("settle", 2*time.Second, "wait after opening (and after closing) before reading the counters")
	addr   = flag.String("addr", "", "dial this server instead of starting the built-in holder (its sockets are counted if it is on this machine)")
	src    = flag.String("src", "", "internal: source address of a dial child")
	asJSON = flag.Bool("json", false, "print one JSON object instead of the text table")
	top    = flag.Int("top", 8, "slab caches listed, by growth")
)

func main() {
	flag.Parse()
	switch *role {
	case "server":
		serve()
		return
	case "dial":
		dial()
		return
	case "":
	default:
		fatalf("unknown -role %q", *role)
	}
	if *n > 15000 && *addr == "" {
		fatalf("-n %d: one process holds the server ends, and a process may have ~20k files here; use ≤ 15000", *n)
	}
	res := Result{Connections: *n, Rounds: []Round{}, Settle: settle.String(), External: *addr, SlabInfo: slabReadable()}
	for r := range *rounds {
		round, err := runRound(r)
		if err != nil {
			fatalf("round %d: %v", r+1, err)
		}
		res.Rounds = append(res.Rounds, round)
		fmt.Fprintf(os.Stderr, "sockmem: round %d: %d sockets, slab +%d KiB = %.0f B per socket\n",
			r+1, round.Sockets, round.SlabKiB, round.SlabPerSocket)
	}
	res.summarize(*top)
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", " ")
		enc.Encode(res)
		return
	}
	res.print(os.Stdout)
}

// Result is everything one invocation measured.
type Result struct {
	Connections int    `json:"connections"` // per round
	Settle      string `json:"settle"`
	External    string `json:"external_server,omitempty"`
	SlabInfo    bool   `json:"slabinfo"` // /proc/slabinfo was readable
	Load        string `json:"load"`     // /proc/loadavg at the end
	Rounds      []Round
	// Medians over the rounds.
	SlabPerSocket       float64       `json:"slab_bytes_per_socket"`
	SUnreclaimPerSocket float64       `json:"sunreclaim_bytes_per_socket"`
	SReclaimPerSocket   float64       `json:"sreclaimable_bytes_per_socket"`
	BufPagesDelta       float64       `json:"tcp_mem_pages_delta"`
	Caches              []CacheGrowth `json:"caches,omitempty"`
}

// Round is one open-measure-close cycle.
type Round struct {
	Connections     int                `json:"connections"`      // established (both ends ready)
	Sockets         int                `json:"sockets"`          // Δ TCP inuse (/proc/net/sockstat)
	SlabKiB         int64              `json:"slab_kib"`         // Δ Slab (/proc/meminfo)
	SUnreclaimKiB   int64              `json:"sunreclaim_kib"`   // Δ SUnreclaim
	SReclaimKiB     int64              `json:"sreclaimable_kib"` // Δ SReclaimable
	TCPMemPages     int64              `json:"tcp_mem_pages"`    // Δ sockstat TCP mem
	SlabPerSocket   float64            `json:"slab_bytes_per_socket"`
	SlabAfterClose  int64              `json:"slab_after_close_kib"`  // Slab − before, -settle after closing
	CacheBytesDelta map[string]float64 `json:"cache_bytes,omitempty"` // Δ active_objs × objsize per cache
}

// CacheGrowth is one slab cache's median growth per socket.
type CacheGrowth struct {
	Name           string  `json:"name"`
	BytesPerSocket float64 `json:"bytes_per_socket"`
}

type snapshot struct {
	meminfo map[string]int64 // kB
	tcp     map[string]int64 // sockstat TCP: fields
	slab    map[string]float64
}

func take() snapshot {
	return snapshot{meminfo: readMeminfo(), tcp: readSockstat(), slab: readSlabinfo()}
}

func runRound(r int) (Round, error) {
	var round Round
	target := *addr
	var srv *child
	if target == "" {
		var err error
		srv, err = startChild("-role", "server")
		if err != nil {
			return round, err
		}
		defer srv.stop()
		line, err := srv.line()
		if err != nil {
			return round, fmt.Errorf("server: %v", err)
		}
		target = strings.TrimPrefix(line, "addr ")
	}
	// The dialing processes start before the first reading, so their own
	// kernel structures (task, files, the runtime's epoll) are not counted;
	// they dial on "go".
	nproc := (*n + *per - 1) / *per
	var dialers []*child
	defer func() {
		for _, d := range dialers {
			d.stop()
		}
	}()
	for i := range nproc {
		k := *n / nproc
		if i < *n%nproc {
			k++
		}
		// Fresh source addresses every round: the previous round's
		// client ports may sit in TIME_WAIT.
		idx := r*nproc + i
		ip := fmt.Sprintf("127.0.%d.%d", idx/250, 2+idx%250)
		d, err := startChild("-role", "dial", "-addr", target, "-src", ip, "-n", strconv.Itoa(k))
		if err != nil {
			return round, err
		}
		dialers = append(dialers, d)
		if l, err := d.line(); err != nil || l != "started" {
			return round, fmt.Errorf("dialer: %q %v", l, err)
		}
	}
	time.Sleep(*settle)
	before := take()
	for _, d := range dialers {
		d.send("go")
	}
	for _, d := range dialers {
		line, err := d.line()
		if err != nil {
			return round, fmt.Errorf("dialer: %v", err)
		}
		var ok, failed int
		fmt.Sscanf(line, "ready %d %d", &ok, &failed)
		if failed > 0 {
			return round, fmt.Errorf("dialer: %d connections failed (%s)", failed, line)
		}
		round.Connections += ok
	}
	if srv != nil { // every server end accepted
		deadline := time.Now().Add(time.Minute)
		for {
			srv.send("count")
			line, err := srv.line()
			if err != nil {
				return round, err
			}
			if c, _ := strconv.Atoi(line); c >= round.Connections {
				break
			}
			if time.Now().After(deadline) {
				return round, fmt.Errorf("server accepted %s of %d", line, round.Connections)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(*settle)
	after := take()
	for _, d := range dialers {
		d.stop()
	}
	dialers = nil
	if srv != nil {
		srv.stop()
	}
	time.Sleep(*settle)
	closed := take()

	round.Sockets = int(after.tcp["inuse"] - before.tcp["inuse"])
	round.SlabKiB = after.meminfo["Slab"] - before.meminfo["Slab"]
	round.SUnreclaimKiB = after.meminfo["SUnreclaim"] - before.meminfo["SUnreclaim"]
	round.SReclaimKiB = after.meminfo["SReclaimable"] - before.meminfo["SReclaimable"]
	round.TCPMemPages = after.tcp["mem"] - before.tcp["mem"]
	round.SlabAfterClose = closed.meminfo["Slab"] - before.meminfo["Slab"]
	if round.Sockets <= 0 {
		return round, fmt.Errorf("TCP inuse grew by %d (other sockets closed meanwhile?)", round.Sockets)
	}
	round.SlabPerSocket = float64(round.SlabKiB) * 1024 / float64(round.Sockets)
	if before.slab != nil && after.slab != nil {
		round.CacheBytesDelta = map[string]float64{}
		for name, b := range after.slab {
			if d := b - before.slab[name]; d != 0 {
				round.CacheBytesDelta[name] = d
			}
		}
	}
	return round, nil
}

func (res *Result) summarize(topN int) {
	res.Load = loadavg()
	med := func(f func(Round) float64) float64 {
		var v []float64
		for _, r := range res.Rounds {
			v = append(v, f(r))
		}
		return median(v)
	}
	res.SlabPerSocket = med(func(r Round) float64 { return r.SlabPerSocket })
	res.SUnreclaimPerSocket = med(func(r Round) float64 { return float64(r.SUnreclaimKiB) * 1024 / float64(r.Sockets) })
	res.SReclaimPerSocket = med(func(r Round) float64 { return float64(r.SReclaimKiB) * 1024 / float64(r.Sockets) })
	res.BufPagesDelta = med(func(r Round) float64 { return float64(r.TCPMemPages) })
	if !res.SlabInfo {
		return
	}
	per := map[string][]float64{}
	for _, r := range res.Rounds {
		for name, d := range r.CacheBytesDelta {
			per[name] = append(per[name], d/float64(r.Sockets))
		}
	}
	for name, v := range per {
		for len(v) < len(res.Rounds) {
			v = append(v, 0) // no change in that round
		}
		res.Caches = append(res.Caches, CacheGrowth{Name: name, BytesPerSocket: median(v)})
	}
	sort.Slice(res.Caches, func(i, j int) bool { return res.Caches[i].BytesPerSocket > res.Caches[j].BytesPerSocket })
	if len(res.Caches) > topN {
		res.Caches = res.Caches[:topN]
	}
}

func (res *Result) print(w io.Writer) {
	fmt.Fprintf(w, "# sockmem: %d idle loopback connections per round, %d rounds, settle %s, load %s\n",
		res.Connections, len(res.Rounds), res.Settle, res.Load)
	if res.External != "" {
		fmt.Fprintf(w, "# server: %s (external)\n", res.External)
	}
	fmt.Fprintf(w, "round\tconns\tsockets\tslab_kib\tsunreclaim_kib\tsreclaimable_kib\ttcp_mem_pages\tslab_B_per_socket\tslab_after_close_kib\n")
	for i, r := range res.Rounds {
		fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.0f\t%d\n", i+1, r.Connections, r.Sockets, r.SlabKiB, r.SUnreclaimKiB,
			r.SReclaimKiB, r.TCPMemPages, r.SlabPerSocket, r.SlabAfterClose)
	}
	fmt.Fprintf(w, "median\tslab_B_per_socket %.0f (%.2f KiB)\tsunreclaim %.0f\tsreclaimable %.0f\ttcp_mem_pages %.0f\n",
		res.SlabPerSocket, res.SlabPerSocket/1024, res.SUnreclaimPerSocket, res.SReclaimPerSocket, res.BufPagesDelta)
	if !res.SlabInfo {
		fmt.Fprintf(w, "# /proc/slabinfo not readable (root only): no per-cache breakdown\n")
		return
	}
	fmt.Fprintf(w, "cache\tB_per_socket\t(median of Δ active_objs × objsize / sockets)\n")
	for _, c := range res.Caches {
		fmt.Fprintf(w, "%s\t%.0f\n", c.Name, c.BytesPerSocket)
	}
}

// --- children ---

type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startChild(args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &child{cmd: cmd, in: in, out: bufio.NewReader(out)}, nil
}

func (c *child) line() (string, error) {
	l, err := c.out.ReadString('\n')
	return strings.TrimSpace(l), err
}

func (c *child) send(s string) { io.WriteString(c.in, s+"\n") }

// stop closes the child's stdin (it closes its sockets and exits) and
// waits for it.
func (c *child) stop() {
	if c.cmd.ProcessState != nil {
		return
	}
	c.in.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// serve accepts connections on 127.0.0.1 and holds them without reading;
// "count" on stdin prints how many it holds, EOF ends it.
func serve() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("%v", err)
	}
	fmt.Printf("addr %s\n", ln.Addr())
	var (
		mu    sync.Mutex
		conns []net.Conn
		count atomic.Int64
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			count.Add(1)
		}
	}()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "count" {
			fmt.Printf("%d\n", count.Load())
		}
	}
	ln.Close()
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
}

// dial prints "started", waits for "go" on stdin, opens -n connections to
// -addr from -src, prints "ready OK FAILED" and holds them until stdin
// closes.
func dial() {
	fmt.Println("started")
	in := bufio.NewReader(os.Stdin)
	if l, err := in.ReadString('\n'); err != nil || strings.TrimSpace(l) != "go" {
		return
	}
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(*src)}}
	conns := make([]net.Conn, *n)
	var failed atomic.Int64
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			for try := range 3 {
				c, err := d.Dial("tcp", *addr)
				if err == nil {
					conns[i] = c
					return
				}
				if try == 2 {
					failed.Add(1)
					fmt.Fprintf(os.Stderr, "sockmem dial %s: %v\n", *src, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("ready %d %d\n", int64(*n)-failed.Load(), failed.Load())
	io.Copy(io.Discard, in)
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// --- /proc ---

func readMeminfo() map[string]int64 {
	b, _ := os.ReadFile("/proc/meminfo")
	return parseMeminfo(b)
}

// parseMeminfo returns /proc/meminfo's values (kB) by name.
func parseMeminfo(b []byte) map[string]int64 {
	m := map[string]int64{}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) > 0 {
			m[k], _ = strconv.ParseInt(f[0], 10, 64)
		}
	}
	return m
}

// readSockstat returns the "TCP:" line of /proc/net/sockstat as
// field → value (inuse, orphan, tw, alloc, mem).
func readSockstat() map[string]int64 {
	b, _ := os.ReadFile("/proc/net/sockstat")
	return parseSockstat(b)
}

func parseSockstat(b []byte) map[string]int64 {
	m := map[string]int64{}
	for _, l := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(l, "TCP:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		for i := 0; i+1 < len(f); i += 2 {
			m[f[i]], _ = strconv.ParseInt(f[i+1], 10, 64)
		}
	}
	return m
}

func slabReadable() bool {
	f, err := os.Open("/proc/slabinfo")
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// readSlabinfo returns active_objs × objsize per cache, or nil when
// /proc/slabinfo is not readable.
func readSlabinfo() map[string]float64 {
	b, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return nil
	}
	return parseSlabinfo(b)
}

// parseSlabinfo returns active_objs × objsize by cache name (slabinfo 2.1:
// name, active_objs, num_objs, objsize, …).
func parseSlabinfo(b []byte) map[string]float64 {
	m := map[string]float64{}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "slabinfo") || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 4 {
			continue
		}
		active, _ := strconv.ParseFloat(f[1], 64)
		size, _ := strconv.ParseFloat(f[3], 64)
		m[f[0]] += active * size
	}
	return m
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "sockmem: "+format+"\n", args...)
	os.Exit(1)
}
