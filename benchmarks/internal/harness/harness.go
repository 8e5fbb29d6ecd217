// Package harness builds, starts, measures and smoke-checks the benchmark
// server binaries under benchmarks/servers/<name>/main.go.
package harness

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// Capability names: the endpoints a server implements.
const (
	CapHello   = "hello"
	CapSSE     = "sse"     // GET /sse and POST /publish
	CapWS      = "ws"      // GET /ws/sub (WebSocket subscriber) and POST /publish
	CapWSEcho  = "ws-echo" // GET /ws/echo
	CapChunked = "chunked"
	CapUpload  = "upload" // POST /upload answers the body's length
	// CapTLS: with -tls-cert and -tls-key the server serves every endpoint
	// above over HTTPS only (HTTP/1.1), and -heap-file makes SIGUSR2
	// write its heap figures (peer.HeapOnSignal). It implies CapTLSHello.
	CapTLS = "tls"
	// CapTLSHello: with -tls-cert and -tls-key the server serves GET /hello
	// over HTTPS (keep-alive, pipelined) and takes -heap-file; all the
	// TLS ceiling serves (the tls-keepalive and tls-pipelined scenarios).
	CapTLSHello = "tls-hello"
)

var allCaps = []string{CapHello, CapSSE, CapWS, CapWSEcho, CapChunked, CapUpload}

// tlsCaps is allCaps plus TLS.
var tlsCaps = append(slices.Clip(allCaps), CapTLS, CapTLSHello)

// Known lists the servers in report order, with the endpoints each serves.
// A directory under servers/ that is not listed is treated as a full server.
//
// A variant (Pkg set) is the binary of servers/<Pkg> started with Args: the
// same code configured another way, reported as its own row.
var Known = []struct {
	Name    string
	Caps    []string
	Note    string
	Pkg     string   // directory under servers/ (default Name)
	Args    []string // extra flags after -addr and -loops
	Ceiling bool     // a raw ceiling for calibration, not a peer
	Own     bool     // this project configured another way (streamd-nethttp): not a peer either
	// RowNotes are the notes in the server's rows: how it is configured
	// and where it deviates from the fairness rules or from what its own
	// docs recommend for speed. Keys are comma-separated scenario names,
	// or "*" for every scenario.
	RowNotes map[string]string
}{
	{Name: "streamd", Caps: tlsCaps, Note: "this project", RowNotes: map[string]string{
		"tls-sse-idle,tls-handshake,tls-resume,tls-keepalive,tls-pipelined,tls-chunked,tls-fanout": "loop.Config.TLS with the certificate, crypto/tls defaults",
	}},
	{Name: "streamd-nethttp", Caps: allCaps, Pkg: "streamd", Args: []string{"-backend", "nethttp"}, Own: true,
		Note: "streamd's routes and handlers through its net/http backend (loop.Server.HTTPHandler) in a plain HTTP/1.1 http.Server: net/http owns the sockets, the handlers run on the backend's loops",
		RowNotes: map[string]string{
			"*": "streamd -backend nethttp: srv.HTTPHandler() in an http.Server (HTTP/1.1 only, ReadHeaderTimeout 10 s, IdleTimeout 60 s), a goroutine per conn (net/http's) plus the backend's loop; not a peer (excluded from \"best peer\")",
		}},
	{Name: "fasthttp", Caps: tlsCaps, Note: "valyala/fasthttp v1.78.0 + fasthttp/websocket v1.5.12", RowNotes: map[string]string{
		"sse-idle,fanout":           "SSE as SetBodyStream with a BodyWriterTo: one chunk per event on the conn's goroutine (not SetBodyStreamWriter's pipe and goroutine); opens with a `:ok` comment",
		"chunked":                   "SetBodyStream with a BodyWriterTo: one 16 KiB chunk per Write, flushed (fasthttp flushes every chunk); Server.WriteBufferSize 16 KiB + 32 (default 4 KiB) so a chunk is one write(2)",
		"ws-idle,fanout-ws,ws-echo": "fasthttp/websocket: a goroutine per conn (and a read pump per /ws/sub), 1 KiB buffers",
		"tls-sse-idle,tls-handshake,tls-resume,tls-keepalive,tls-pipelined,tls-chunked,tls-fanout": "Server.ListenAndServeTLS with the PEM files (fasthttp's TLS config over crypto/tls)",
		"tls-sse-idle,tls-fanout": "SSE as in sse-idle",
		"tls-chunked":             "as in chunked (WriteBufferSize 16 KiB + 32)",
	}},
	{Name: "nethttp", Caps: tlsCaps, Note: "net/http + gorilla/websocket v1.5.3", RowNotes: map[string]string{
		"sse-idle,fanout":           "Write + http.Flusher per event, a writer goroutine per subscriber",
		"chunked":                   "one Write per 16 KiB chunk, no Flush; net/http's fixed 4 KiB conn buffer (no knob) makes each chunk two write(2)s",
		"ws-idle,fanout-ws,ws-echo": "gorilla/websocket: a goroutine per conn (and a read pump per /ws/sub), 1 KiB buffers",
		"tls-sse-idle,tls-handshake,tls-resume,tls-keepalive,tls-pipelined,tls-chunked,tls-fanout": "http.Server.ServeTLS with the PEM files, crypto/tls defaults; h2 disabled (Server.Protocols HTTP/1.1 only) for parity: no other server speaks h2",
		"tls-sse-idle,tls-fanout": "SSE as in sse-idle",
		"tls-chunked":             "as in chunked",
	}},
	{Name: "nbio", Caps: tlsCaps, Note: "lesismal/nbio v1.6.8 nbhttp + websocket, handlers on nbio's default goroutine pool", RowNotes: map[string]string{
		"*":                       "handlers on nbio's default goroutine pool; ReleaseWebsocketPayload on (as nbio's own benchmark)",
		"sse-idle,fanout":         "SSE on hijacked conns, written directly",
		"chunked":                 "chunks framed by hand on the hijacked conn (nbhttp's chunked writer corrupts bodies past 64 KiB in v1.6.8), paced by OnWrittenSize (256 KiB high-water mark)",
		tlsScenarioList:           nbioTLSNote,
		"tls-sse-idle,tls-fanout": "SSE on hijacked TLS conns, written directly",
		"tls-chunked":             nbioTLSChunkedNote,
	}},
	{Name: "nbio-inline", Caps: tlsCaps, Pkg: "nbio", Args: []string{"-executor", "inline"},
		Note: "the nbio server with ServerExecutor running handlers and WebSocket callbacks on the poller goroutine, as streamd runs them on its loop",
		RowNotes: map[string]string{
			"*":                       "nbio -executor inline: ServerExecutor runs handlers and WebSocket callbacks on the poller (as streamd); ReleaseWebsocketPayload on; Connection: close requests answered keep-alive (inline, nbio v1.6.8 can deadlock closing a conn from its own handler)",
			"sse-idle,fanout":         "SSE on hijacked conns, written directly",
			"chunked":                 "hand-framed chunks as nbio, the download paced from a goroutine: OnWrittenSize runs under the conn's lock, so the poller cannot resume writing",
			tlsScenarioList:           nbioTLSNote,
			"tls-sse-idle,tls-fanout": "SSE on hijacked TLS conns, written directly",
			"tls-chunked":             nbioTLSChunkedNote + "; the download paced from a goroutine as in chunked",
		}},
	{Name: "gnetraw", Caps: []string{CapHello}, Ceiling: true, Note: "raw gnet v2.9.7 canned /hello (plaintext ceiling)",
		RowNotes: map[string]string{"*": "ceiling: counts request ends, parses nothing, canned answers in one write per OnTraffic"}},
	{Name: "gnetraw-tls", Caps: []string{CapTLSHello}, Ceiling: true,
		Note: "raw gnet v2.9.7 + Go's crypto/tls, canned /hello (TLS keep-alive/pipelined ceiling)",
		RowNotes: map[string]string{"*": "TLS ceiling: handshake with crypto/tls (its defaults) on a goroutine per conn, then the socket enrolled in gnet (gnet.Client); " +
			"per OnTraffic it decrypts what gnet read (tls.Conn over an in-memory transport), counts request ends, parses nothing, and writes the canned answers encrypted in one write"}},
	{Name: "rawsock", Caps: []string{CapChunked}, Ceiling: true, Note: "plain blocking TCP writes (chunked ceiling); /hello for liveness only",
		RowNotes: map[string]string{"*": "ceiling: ready-made 16 KiB chunk frames, up to 256 KiB per write(2)"}},
	{Name: "rawfanout", Caps: []string{CapSSE, CapWS}, Ceiling: true,
		Note: "one epoll loop, no HTTP library: a publish is one write(2) of the same prebuilt bytes per subscriber socket (fan-out ceiling)",
		RowNotes: map[string]string{
			"sse-idle,ws-idle": "ceiling: a small per-conn struct and its request bytes in user space (the kernel's socket memory is not in RSS)",
			"fanout,fanout-ws": "ceiling: one write(2) of the prebuilt message per subscriber, one epoll loop",
		}},
	{Name: "rawecho", Caps: []string{CapWSEcho}, Ceiling: true,
		Note:     "one epoll loop: after the WebSocket handshake, read(2) and write(2) the same bytes back, no framing (echo ceiling)",
		RowNotes: map[string]string{"*": "ceiling: each read(2) written back as read; the client's masked frames come back masked (4 bytes longer)"}},
}

// The TLS scenarios, as RowNotes keys, and what nbio's rows say about its
// TLS.
const (
	tlsScenarioList    = "tls-sse-idle,tls-handshake,tls-resume,tls-keepalive,tls-pipelined,tls-chunked,tls-fanout"
	nbioTLSNote        = "nbhttp.Config.AddrsTLS + TLSConfig as nbio's TLS examples: nbio's own non-blocking TLS, the llib fork of crypto/tls (github.com/lesismal/llib/std/crypto/tls v1.2.2, forked from Go ~1.15's; the poller decrypts, not Go's crypto/tls), its defaults (TLS 1.3, session tickets on); negotiates ChaCha20-Poly1305 on this AES-NI CPU (the fork's copy of internal/cpu is never initialised, so it sees no AES hardware; Go's servers pick AES-128-GCM) and X25519 (the fork predates X25519MLKEM768, which Go's servers agree on with Go clients): cheaper handshakes, not the same work"
	nbioTLSChunkedNote = "hand-framed chunks as in chunked, written through the TLS conn; OnWrittenSize counts the ciphertext nbio writes, the queued side is estimated as plaintext + 22 bytes per 16 KiB TLS 1.3 record"
)

// ServerInfo describes one server (a directory, or a variant of one).
type ServerInfo struct {
	Name    string
	Dir     string // absolute path of servers/<Pkg>
	Pkg     string // directory under servers/
	Args    []string
	Caps    map[string]bool
	Note    string
	Ceiling bool
	Present bool // has main.go

	rowNotes map[string]string
}

// RowNote returns the server's note for scenario (the "*" note first).
func (s ServerInfo) RowNote(scenario string) string {
	var out []string
	if n := s.rowNotes["*"]; n != "" {
		out = append(out, n)
	}
	for _, k := range slices.Sorted(maps.Keys(s.rowNotes)) {
		if k != "*" && slices.Contains(strings.Split(k, ","), scenario) {
			out = append(out, s.rowNotes[k])
		}
	}
	return strings.Join(out, "; ")
}

// Has reports whether the server implements capability c.
func (s ServerInfo) Has(c string) bool { return s.Caps[c] }

// SpeaksTLS reports whether the server takes -tls-cert and -tls-key
// (CapTLS or CapTLSHello).
func (s ServerInfo) SpeaksTLS() bool { return s.Caps[CapTLS] || s.Caps[CapTLSHello] }

// Package returns the go build package path of the server ("./servers/<Pkg>").
func (s ServerInfo) Package() string { return "./servers/" + s.Pkg }

// IsCeiling reports whether name is a raw ceiling server (not a peer).
func IsCeiling(name string) bool {
	for _, k := range Known {
		if k.Name == name {
			return k.Ceiling
		}
	}
	return false
}

// IsOwn reports whether name is this project run another way (an Own
// variant such as streamd-nethttp), neither a peer nor a ceiling.
func IsOwn(name string) bool {
	for _, k := range Known {
		if k.Name == name {
			return k.Own
		}
	}
	return false
}

// Root returns the benchmarks module root, found by walking up from the
// working directory to the go.mod of github.com/streamd/streamd/benchmarks.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/streamd/streamd/benchmarks\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("harness: benchmarks module root not found (run from benchmarks/)")
		}
		dir = parent
	}
}

// Servers lists known servers in report order, then any unknown directories.
func Servers(root string) []ServerInfo {
	var out []ServerInfo
	seen := map[string]bool{}
	add := func(name, pkg string, args, caps []string, note string, ceiling bool, rowNotes map[string]string) {
		if pkg == "" {
			pkg = name
		}
		dir := filepath.Join(root, "servers", pkg)
		_, err := os.Stat(filepath.Join(dir, "main.go"))
		si := ServerInfo{Name: name, Dir: dir, Pkg: pkg, Args: args, Caps: map[string]bool{}, Note: note,
			Ceiling: ceiling, Present: err == nil, rowNotes: rowNotes}
		for _, c := range caps {
			si.Caps[c] = true
		}
		out = append(out, si)
		seen[name] = true
	}
	for _, k := range Known {
		add(k.Name, k.Pkg, k.Args, k.Caps, k.Note, k.Ceiling, k.RowNotes)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "servers"))
	for _, e := range entries {
		if e.IsDir() && !seen[e.Name()] {
			add(e.Name(), "", nil, allCaps, "", false, nil)
		}
	}
	return out
}

// Build compiles the packages ("./servers/x", "./cmd/loadclient") into outDir
// with one go build invocation per package and returns name -> binary path.
func Build(ctx context.Context, root, outDir string, pkgs map[string]string) (map[string]string, error) {
	bins := map[string]string{}
	for name, pkg := range pkgs {
		bin := filepath.Join(outDir, name)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return bins, fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
		bins[name] = bin
	}
	return bins, nil
}

// FreePort returns a currently free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Proc is a running server process.
type Proc struct {
	Name string
	Addr string
	Cmd  *exec.Cmd
	Args []string // the exact command line
	errB *bytes.Buffer
	done chan struct{}
	tls  *tls.Config // the server speaks HTTPS (StartServerTLS)
}

// StartServer runs bin on a free port. If cpu >= 0 the process is pinned to
// that CPU with taskset and given -loops 1; otherwise it gets -loops loops.
// Extra arguments follow -addr and -loops.
func StartServer(name, bin string, cpu, loops int, extra ...string) (*Proc, error) {
	return Start(name, bin, StartOpts{CPU: cpu, Loops: loops, Extra: extra})
}

// StartServerTLS is StartServer for a server that speaks HTTPS (its
// -tls-cert and -tls-key among extra): the /hello probe uses clientTLS.
func StartServerTLS(name, bin string, cpu, loops int, clientTLS *tls.Config, extra ...string) (*Proc, error) {
	return Start(name, bin, StartOpts{CPU: cpu, Loops: loops, Extra: extra, TLS: clientTLS})
}

// StartOpts configures Start.
type StartOpts struct {
	// Addr is the listen address; "" picks a free port on 127.0.0.1.
	Addr string
	// CPU pins the process with taskset when >= 0.
	CPU int
	// Loops is passed as -loops.
	Loops int
	// Listeners, when > 0, makes Start wait until that many sockets listen
	// on Addr's port (/proc/net/tcp) before it checks /hello: with
	// SO_REUSEPORT, the n-th process of a port passes n, since any of them
	// may answer /hello.
	Listeners int
	// Extra arguments follow -addr and -loops.
	Extra []string
	// TLS, when set, is the client config of the /hello probe: the server
	// speaks HTTPS only (its -tls-cert and -tls-key among Extra).
	TLS *tls.Config
}

// Start runs bin as a server (see StartOpts) and waits until it answers
// GET /hello.
func Start(name, bin string, o StartOpts) (*Proc, error) {
	addr := o.Addr
	if addr == "" {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		addr = "127.0.0.1:" + strconv.Itoa(port)
	}
	args := append([]string{bin, "-addr", addr, "-loops", strconv.Itoa(o.Loops)}, o.Extra...)
	p, err := startProc(name, addr, o.CPU, args)
	if err != nil {
		return nil, err
	}
	p.tls = o.TLS
	if o.Listeners > 0 {
		if err := p.waitListeners(o.Listeners, 10*time.Second); err != nil {
			p.Stop()
			return nil, fmt.Errorf("%s: %v; output: %s", name, err, strings.TrimSpace(p.errB.String()))
		}
	}
	if err := p.waitHello(10 * time.Second); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%s did not answer /hello: %v; output: %s", name, err, strings.TrimSpace(p.errB.String()))
	}
	return p, nil
}

// startProc starts args (pinned to cpu when >= 0) in its own process group,
// killed if this process dies.
func startProc(name, addr string, cpu int, args []string) (*Proc, error) {
	if cpu >= 0 {
		args = append([]string{"taskset", "-c", strconv.Itoa(cpu)}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	var errB bytes.Buffer
	cmd.Stdout = &errB
	cmd.Stderr = &errB
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Name: name, Addr: addr, Cmd: cmd, Args: args, errB: &errB, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	return p, nil
}

// StartNATS runs a nats-server binary with JetStream, its store in dir, on
// a free port of 127.0.0.1 (pinned to cpu when >= 0), and waits until it
// greets a client with INFO. Proc.Addr is host:port; the URL is
// "nats://" + Addr.
func StartNATS(bin, dir string, cpu int) (*Proc, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := startProc("nats-server", addr, cpu, []string{bin, "-js", "-sd", dir, "-a", "127.0.0.1", "-p", strconv.Itoa(port)})
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			b := make([]byte, 4)
			_, err = io.ReadFull(c, b)
			c.Close()
			if err == nil && string(b) == "INFO" {
				return p, nil
			}
		}
		if !p.Alive() || time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("nats-server did not start: %v; output: %s", err, strings.TrimSpace(p.errB.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitListeners waits until n sockets listen on p.Addr's port.
func (p *Proc) waitListeners(n int, d time.Duration) error {
	_, ps, _ := net.SplitHostPort(p.Addr)
	port, _ := strconv.Atoi(ps)
	deadline := time.Now().Add(d)
	for {
		got, err := Listeners(port)
		if err == nil && got >= n {
			return nil
		}
		if !p.Alive() {
			return errors.New("process exited")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d sockets listen on port %d after %s, want %d (err %v)", got, port, d, n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Listeners counts the TCP sockets in LISTEN state on port (IPv4 and IPv6),
// from /proc/net/tcp and /proc/net/tcp6.
func Listeners(port int) (int, error) {
	n := 0
	want := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			if f == "/proc/net/tcp6" {
				continue
			}
			return 0, err
		}
		for _, l := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(l)
			if len(fs) > 3 && fs[3] == "0A" && strings.HasSuffix(fs[1], want) {
				n++
			}
		}
	}
	return n, nil
}

// FDs returns the number of open file descriptors of pid.
func FDs(pid int) (int, error) {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(es), err
}

func (p *Proc) waitHello(d time.Duration) error {
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return errors.New("process exited")
		default:
		}
		st, body, err := hello(p.Addr, p.tls)
		if err == nil && st == 200 && string(body) == "Hello, World!" {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("status %d body %q", st, body)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return last
}

// PID returns the server's process id (taskset execs the binary in place).
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Alive reports whether the process is still running.
func (p *Proc) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stop terminates the server (SIGTERM, then SIGKILL after 2 s).
func (p *Proc) Stop() {
	if !p.Alive() {
		return
	}
	syscall.Kill(-p.PID(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
		syscall.Kill(-p.PID(), syscall.SIGKILL)
		<-p.done
	}
}

// Kill sends SIGKILL to the server's process group at once (the hostile
// runs use it when a server's memory passes a hard cap).
func (p *Proc) Kill() {
	if p.Alive() {
		syscall.Kill(-p.PID(), syscall.SIGKILL)
	}
}

// Output returns what the server printed (it should print nothing).
func (p *Proc) Output() string { return p.errB.String() }

// CPUSeconds returns the CPU time of pid in seconds (see CPUTimes).
func CPUSeconds(pid int) (float64, error) {
	t, err := CPUTimes(pid)
	return t.Total, err
}

// CPUTime is a process's CPU time in seconds at one moment.
//
// Total is the process's CPU-time clock (clock_gettime on the clock
// clock_getcpuclockid(3) names: the scheduler's runtime of all its threads,
// exited ones included), to the nanosecond. User and Sys are utime and stime
// from /proc/PID/stat, in 10 ms ticks: the kernel scales them so they add
// up to the same runtime, but splits it by sampling ticks. On this kernel
// (tick accounting, no IRQ time accounting) a tick that lands in a softirq,
// such as loopback TCP receive processing run at the end of the sender's
// write(2), counts as the interrupted process's stime.
type CPUTime struct{ Total, User, Sys float64 }

// Sub returns t − u.
func (t CPUTime) Sub(u CPUTime) CPUTime {
	return CPUTime{t.Total - u.Total, t.User - u.User, t.Sys - u.Sys}
}

// Split divides Total into user and kernel time in the proportion of the
// ticks (ok is false when no tick was counted).
func (t CPUTime) Split() (user, sys float64, ok bool) {
	ticks := t.User + t.Sys
	if ticks <= 0 {
		return 0, 0, false
	}
	user = t.Total * t.User / ticks
	return user, t.Total - user, true
}

// CPUTimes returns the CPU time of pid (see CPUTime). Total falls back to
// utime+stime if the CPU-time clock cannot be read.
func CPUTimes(pid int) (CPUTime, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return CPUTime{}, err
	}
	// Fields after the ")" that closes comm: state is field 3; utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return CPUTime{}, errors.New("harness: short /proc stat")
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	t := CPUTime{User: ut / clkTck, Sys: st / clkTck}
	t.Total = t.User + t.Sys
	// clock_getcpuclockid(pid): MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED).
	var ts syscall.Timespec
	clock := uintptr((^pid)<<3 | 2)
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clock, uintptr(unsafe.Pointer(&ts)), 0); errno == 0 {
		t.Total = float64(ts.Sec) + float64(ts.Nsec)/1e9
	}
	return t, nil
}

// clkTck is USER_HZ; 100 on every Linux ABI Go supports.
const clkTck = 100

// RSSKiB returns VmRSS of pid in KiB.
func RSSKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("harness: no VmRSS")
}
