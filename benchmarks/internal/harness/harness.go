// Package harness builds, starts, measures and smoke-checks the benchmark
// server binaries under benchmarks/servers/<name>/main.go.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Capability names: the endpoints a server implements.
const (
	CapHello   = "hello"
	CapSSE     = "sse"     // GET /sse and POST /publish
	CapWS      = "ws"      // GET /ws/sub (WebSocket subscriber) and POST /publish
	CapWSEcho  = "ws-echo" // GET /ws/echo
	CapChunked = "chunked"
	CapUpload  = "upload" // POST /upload answers the body's length
)

var allCaps = []string{CapHello, CapSSE, CapWS, CapWSEcho, CapChunked, CapUpload}

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
}{
	{Name: "streamd", Caps: allCaps, Note: "this project"},
	{Name: "fasthttp", Caps: allCaps, Note: "valyala/fasthttp v1.78.0 + fasthttp/websocket v1.5.12"},
	{Name: "nethttp", Caps: allCaps, Note: "net/http + gorilla/websocket v1.5.3"},
	{Name: "nbio", Caps: allCaps, Note: "lesismal/nbio v1.6.8 nbhttp + websocket, handlers on nbio's default goroutine pool"},
	{Name: "nbio-inline", Caps: allCaps, Pkg: "nbio", Args: []string{"-executor", "inline"},
		Note: "the nbio server with ServerExecutor running handlers and WebSocket callbacks on the poller goroutine, as streamd runs them on its loop"},
	{Name: "gnetraw", Caps: []string{CapHello}, Ceiling: true, Note: "raw gnet v2.9.7 canned /hello (plaintext ceiling)"},
	{Name: "rawsock", Caps: []string{CapChunked}, Ceiling: true, Note: "plain blocking TCP writes (chunked ceiling); /hello for liveness only"},
	{Name: "rawfanout", Caps: []string{CapSSE, CapWS}, Ceiling: true,
		Note: "one epoll loop, no HTTP library: a publish is one write(2) of the same prebuilt bytes per subscriber socket (fan-out ceiling)"},
	{Name: "rawecho", Caps: []string{CapWSEcho}, Ceiling: true,
		Note: "one epoll loop: after the WebSocket handshake, read(2) and write(2) the same bytes back, no framing (echo ceiling)"},
}

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
}

// Has reports whether the server implements capability c.
func (s ServerInfo) Has(c string) bool { return s.Caps[c] }

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
	add := func(name, pkg string, args, caps []string, note string, ceiling bool) {
		if pkg == "" {
			pkg = name
		}
		dir := filepath.Join(root, "servers", pkg)
		_, err := os.Stat(filepath.Join(dir, "main.go"))
		si := ServerInfo{Name: name, Dir: dir, Pkg: pkg, Args: args, Caps: map[string]bool{}, Note: note,
			Ceiling: ceiling, Present: err == nil}
		for _, c := range caps {
			si.Caps[c] = true
		}
		out = append(out, si)
		seen[name] = true
	}
	for _, k := range Known {
		add(k.Name, k.Pkg, k.Args, k.Caps, k.Note, k.Ceiling)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "servers"))
	for _, e := range entries {
		if e.IsDir() && !seen[e.Name()] {
			add(e.Name(), "", nil, allCaps, "", false)
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
}

// StartServer runs bin on a free port. If cpu >= 0 the process is pinned to
// that CPU with taskset and given -loops 1; otherwise it gets -loops loops.
// Extra arguments follow -addr and -loops.
func StartServer(name, bin string, cpu, loops int, extra ...string) (*Proc, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := append([]string{bin, "-addr", addr, "-loops", strconv.Itoa(loops)}, extra...)
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
	if err := p.waitHello(10 * time.Second); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%s did not answer /hello: %v; output: %s", name, err, strings.TrimSpace(errB.String()))
	}
	return p, nil
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
		st, body, err := hello(p.Addr)
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

// CPUSeconds returns utime+stime of pid in seconds (from /proc/PID/stat).
func CPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the ")" that closes comm: state is field 3; utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("harness: short /proc stat")
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clkTck, nil
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
