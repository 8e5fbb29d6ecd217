// Command loadclient is the streamd benchmarks' load generator. One process
// opens up to a few thousand connections from one source address and reports
// JSON events (internal/proto) on stdout, progress on stderr.
//
// Control: a line "go" on stdin starts the timed part of ws-echo and chunked;
// EOF on stdin (or -timeout) stops any mode, which then reports and exits.
//
// Modes:
//
//	sse-idle   open -n SSE streams, report ready, hold them until stopped
//	ws-idle    the same with WebSocket /ws/sub connections
//	fanout     -n subscribers (-proto sse|ws) each expecting -warm + -expect
//	           messages whose payload is "<unix-nanos>-<seq>-<padding>";
//	           latency = now − ts, recorded for seq ≥ -warm
//	ws-echo    -n WebSocket /ws/echo conns doing round trips for -duration
//	chunked    -n conns downloading /chunked?size=&chunk= for -duration; a
//	           download of the wrong size or chunk sizes counts as bad
//	handshake  -workers workers, each for -duration: connect, TLS handshake,
//	           GET /hello, read the answer, close; counts the round and
//	           whether the session was resumed (needs -tls-ca; -resume
//	           shares a ClientSessionCache, so all but the first handshake
//	           of a worker can resume with the ticket the last one got);
//	           worker w binds source address 127.100.w.X (X: the last
//	           byte of -src, else 1), so each worker has the whole
//	           ephemeral port range to itself: the client closes first and
//	           leaves TIME_WAIT behind, and thousands of handshakes a
//	           second from one address exhaust its ports within a run
//
// With -tls-ca every mode speaks TLS (crypto/tls, the CA's certificate
// trusted, TLS 1.3 negotiated with Go's defaults).
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/streamd/streamd/benchmarks/internal/client"
	"github.com/streamd/streamd/benchmarks/internal/proto"
)

var (
	mode     = flag.String("mode", "", "sse-idle | ws-idle | fanout | ws-echo | chunked")
	addr     = flag.String("addr", "127.0.0.1:8080", "server address")
	src      = flag.String("src", "", "source IP to bind (e.g. 127.0.0.2)")
	n        = flag.Int("n", 100, "connections (≤ 5000 per process)")
	proto_   = flag.String("proto", "sse", "fanout subscriber protocol: sse | ws")
	topic    = flag.String("topic", "bench", "topic")
	expect   = flag.Int("expect", 10, "fanout: measured messages each subscriber expects")
	warm     = flag.Int("warm", 0, "fanout: leading warm-up messages (seq < warm) not measured")
	duration = flag.Duration("duration", 10*time.Second, "ws-echo/chunked: measured duration")
	msgSize  = flag.Int("msg", 32, "ws-echo: message size in bytes")
	size     = flag.Int("size", 64<<20, "chunked: body size")
	chunk    = flag.Int("chunk", 16<<10, "chunked: chunk size")
	dialPar  = flag.Int("dial-parallel", 64, "concurrent dials")
	timeout  = flag.Duration("timeout", 10*time.Minute, "hard limit for the whole process")
	useStdin = flag.Bool("stdin", true, "take go/stop from stdin (false: go at once, stop at -timeout)")
	tlsCA    = flag.String("tls-ca", "", "PEM CA certificate: speak TLS, trusting it")
	workers  = flag.Int("workers", 16, "handshake: concurrent workers")
	resume   = flag.Bool("resume", false, "TLS: a ClientSessionCache shared by all connections (session resumption)")
)

var (
	outMu sync.Mutex
	enc   = json.NewEncoder(os.Stdout)
)

func emit(ev proto.Event) {
	outMu.Lock()
	enc.Encode(ev)
	outMu.Unlock()
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadclient[%s %s]: %s\n", *mode, *src, fmt.Sprintf(format, args...))
}

// errs keeps a count and the first few distinct error strings.
type errs struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (e *errs) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	s := err.Error()
	for _, f := range e.first {
		if f == s {
			return
		}
	}
	if len(e.first) < 5 {
		e.first = append(e.first, s)
	}
}

func (e *errs) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == 0 {
		return nil
	}
	return append([]string{fmt.Sprintf("%d errors", e.n)}, e.first...)
}

var (
	goCh   = make(chan struct{})
	stopCh = make(chan struct{})
	errors errs
)

func main() {
	flag.Parse()
	if *n < 1 || *n > 20000 {
		fmt.Fprintln(os.Stderr, "loadclient: -n out of range")
		os.Exit(2)
	}
	var stopOnce, goOnce sync.Once
	stop := func() { stopOnce.Do(func() { close(stopCh) }) }
	start := func() { goOnce.Do(func() { close(goCh) }) }
	time.AfterFunc(*timeout, stop)
	if *useStdin {
		go func() {
			sc := bufio.NewScanner(os.Stdin)
			for sc.Scan() {
				if strings.TrimSpace(sc.Text()) == "go" {
					start()
				}
			}
			start()
			stop()
		}()
	} else {
		start()
	}

	d := client.Dialer{Src: *src}
	if *tlsCA != "" {
		pem, err := os.ReadFile(*tlsCA)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadclient:", err)
			os.Exit(2)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			fmt.Fprintln(os.Stderr, "loadclient: no certificate in", *tlsCA)
			os.Exit(2)
		}
		d.TLS = &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
		if *resume {
			d.TLS.ClientSessionCache = tls.NewLRUClientSessionCache(64)
		}
	}
	switch *mode {
	case "sse-idle", "ws-idle":
		runIdle(d)
	case "fanout":
		runFanout(d)
	case "ws-echo":
		runEcho(d)
	case "chunked":
		runChunked(d)
	case "handshake":
		runHandshake(d)
	default:
		fmt.Fprintf(os.Stderr, "loadclient: unknown -mode %q\n", *mode)
		os.Exit(2)
	}
}

// dialAll runs dial(i) for i in [0,n) with bounded parallelism and reports
// how many succeeded. It stops early when stopped.
func dialAll(count int, dial func(i int) error) (ok int) {
	var okN atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				progress("dialed %d/%d", okN.Load(), count)
			}
		}
	}()
	for range min(*dialPar, count) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= count {
					return
				}
				select {
				case <-stopCh:
					return
				default:
				}
				// A few retries: under load a SYN can be dropped (accept queue full).
				var err error
				for try := 0; try < 3; try++ {
					if err = dial(i); err == nil {
						break
					}
				}
				if err != nil {
					errors.add(err)
					continue
				}
				okN.Add(1)
			}
		}()
	}
	wg.Wait()
	close(done)
	return int(okN.Load())
}

func ssePath() string { return "/sse?topic=" + *topic }
func wsSubPath() string {
	return "/ws/sub?topic=" + *topic
}

func runIdle(d client.Dialer) {
	conns := make([]net.Conn, *n)
	t0 := time.Now()
	ok := dialAll(*n, func(i int) error {
		if *mode == "sse-idle" {
			s, err := d.DialSSE(*addr, ssePath())
			if err != nil {
				return err
			}
			conns[i] = s.Conn
			return nil
		}
		w, err := d.DialWS(*addr, wsSubPath())
		if err != nil {
			return err
		}
		conns[i] = w.Conn
		return nil
	})
	emit(proto.Event{Type: proto.EvReady, Conns: ok, Failed: *n - ok, Seconds: time.Since(t0).Seconds()})
	<-stopCh
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	emit(proto.Event{Type: proto.EvResult, Conns: ok, Failed: *n - ok, Errors: errors.list()})
}

// parsePayload extracts ts and seq from "<ts>-<seq>-…" without allocating.
func parsePayload(p []byte) (ts int64, seq int, ok bool) {
	i := 0
	for ; i < len(p) && p[i] >= '0' && p[i] <= '9'; i++ {
		ts = ts*10 + int64(p[i]-'0')
	}
	if i == 0 || i >= len(p) || p[i] != '-' {
		return 0, 0, false
	}
	i++
	j := i
	for ; i < len(p) && p[i] >= '0' && p[i] <= '9'; i++ {
		seq = seq*10 + int(p[i]-'0')
	}
	return ts, seq, i > j
}

type sub struct {
	conn net.Conn
	read func() ([]byte, error)
	lat  []int32 // µs, one per message received (seq < expect)
}

func runFanout(d client.Dialer) {
	subs := make([]*sub, *n)
	var established atomic.Int32
	total := *warm + *expect
	counts := make([]atomic.Int32, total)
	var extra atomic.Int64
	var readers sync.WaitGroup
	t0 := time.Now()

	reader := func(s *sub) {
		defer readers.Done()
		for got := 0; got < total; {
			p, err := s.read()
			if err != nil {
				select {
				case <-stopCh:
				default:
					errors.add(err)
				}
				return
			}
			now := time.Now().UnixNano()
			ts, seq, ok := parsePayload(p)
			if !ok || seq < 0 || seq >= total {
				extra.Add(1)
				continue
			}
			got++
			if seq >= *warm {
				us := (now - ts) / 1000
				s.lat = append(s.lat, int32(max(us, 1)))
			}
			if counts[seq].Add(1) == established.Load() {
				emit(proto.Event{Type: proto.EvSeq, Seq: seq})
			}
		}
	}

	ok := dialAll(*n, func(i int) error {
		s := &sub{lat: make([]int32, 0, *expect)}
		if *proto_ == "ws" {
			w, err := d.DialWS(*addr, wsSubPath())
			if err != nil {
				return err
			}
			s.conn = w.Conn
			s.read = func() ([]byte, error) {
				_, p, err := w.ReadMessage()
				return p, err
			}
		} else {
			c, err := d.DialSSE(*addr, ssePath())
			if err != nil {
				return err
			}
			s.conn = c.Conn
			s.read = c.ReadData
		}
		subs[i] = s
		established.Add(1)
		readers.Add(1)
		go reader(s)
		return nil
	})
	emit(proto.Event{Type: proto.EvReady, Conns: ok, Failed: *n - ok, Seconds: time.Since(t0).Seconds()})

	allDone := make(chan struct{})
	go func() { readers.Wait(); close(allDone) }()
	select {
	case <-allDone:
	case <-stopCh:
		// Unblock readers still waiting, then collect.
		for _, s := range subs {
			if s != nil {
				s.conn.SetReadDeadline(time.Now())
			}
		}
		<-allDone
	}
	h := proto.NewHist()
	var delivered int64
	for _, s := range subs {
		if s == nil {
			continue
		}
		for _, us := range s.lat {
			h.RecordValue(int64(us))
		}
		delivered += int64(len(s.lat))
	}
	if x := extra.Load(); x > 0 {
		errors.add(fmt.Errorf("%d unexpected messages", x))
	}
	// Wait for stop before closing so teardown does not overlap measurement.
	<-stopCh
	for _, s := range subs {
		if s != nil {
			s.conn.Close()
		}
	}
	emit(proto.Event{Type: proto.EvResult, Conns: ok, Failed: *n - ok, Messages: delivered,
		Expected: int64(ok) * int64(*expect), Hist: h.Export(), Errors: errors.list()})
}

func runEcho(d client.Dialer) {
	conns := make([]*client.WSConn, *n)
	t0 := time.Now()
	ok := dialAll(*n, func(i int) error {
		w, err := d.DialWS(*addr, "/ws/echo")
		if err != nil {
			return err
		}
		conns[i] = w
		return nil
	})
	emit(proto.Event{Type: proto.EvReady, Conns: ok, Failed: *n - ok, Seconds: time.Since(t0).Seconds()})
	select {
	case <-goCh:
	case <-stopCh:
	}
	var (
		hmu      sync.Mutex
		h        = proto.NewHist()
		msgs     atomic.Int64
		wg       sync.WaitGroup
		stopping atomic.Bool
	)
	payload := []byte(strings.Repeat("x", *msgSize))
	start := time.Now()
	end := start.Add(*duration)
	go func() {
		select {
		case <-stopCh:
		case <-time.After(*duration):
		}
		stopping.Store(true)
	}()
	for _, w := range conns {
		if w == nil {
			continue
		}
		wg.Add(1)
		go func(w *client.WSConn) {
			defer wg.Done()
			w.Conn.SetDeadline(end.Add(5 * time.Second))
			frame := w.AppendFrame(nil, client.OpText, payload)
			local := hdrhistogram.New(1, 60_000_000, 2) // merged once at the end
			for !stopping.Load() {
				t := time.Now()
				if _, err := w.Conn.Write(frame); err != nil {
					errors.add(err)
					break
				}
				_, p, err := w.ReadMessage()
				if err != nil {
					errors.add(err)
					break
				}
				if len(p) != len(payload) {
					errors.add(fmt.Errorf("echo: got %d bytes, want %d", len(p), len(payload)))
					break
				}
				local.RecordValue(max(time.Since(t).Microseconds(), 1))
				msgs.Add(1)
			}
			hmu.Lock()
			h.Merge(local)
			hmu.Unlock()
		}(w)
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	for _, w := range conns {
		if w != nil {
			w.Conn.Close()
		}
	}
	emit(proto.Event{Type: proto.EvResult, Conns: ok, Failed: *n - ok, Messages: msgs.Load(),
		Seconds: secs, Hist: h.Export(), Errors: errors.list()})
}

func runChunked(d client.Dialer) {
	dls := make([]*client.Downloader, *n)
	ok := dialAll(*n, func(i int) error {
		c, err := d.Dial(*addr)
		if err != nil {
			return err
		}
		dls[i] = client.NewDownloader(c, *addr, 256<<10)
		return nil
	})
	emit(proto.Event{Type: proto.EvReady, Conns: ok, Failed: *n - ok})
	select {
	case <-goCh:
	case <-stopCh:
	}
	target := "/chunked?size=" + strconv.Itoa(*size) + "&chunk=" + strconv.Itoa(*chunk)
	var (
		total, downloads atomic.Int64
		bad              atomic.Int32
		wg               sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(*duration)
	for _, dl := range dls {
		if dl == nil {
			continue
		}
		wg.Add(1)
		go func(dl *client.Downloader) {
			defer wg.Done()
			dl.Conn.SetDeadline(end.Add(30 * time.Second))
			for time.Now().Before(end) {
				select {
				case <-stopCh:
					return
				default:
				}
				res, err := dl.Get(target)
				total.Add(res.Body)
				if err != nil {
					errors.add(err)
					return
				}
				downloads.Add(1)
				switch {
				case res.Status != 200 || res.Body != int64(*size):
					bad.Add(1)
					errors.add(fmt.Errorf("chunked: status %d body %d, want 200 and %d", res.Status, res.Body, *size))
				case !res.Chunked || !res.Chunks.Conforms(int64(*size), int64(*chunk)):
					// The scenario specifies the framing too: every server
					// must put chunk-byte chunks on the wire.
					bad.Add(1)
					errors.add(fmt.Errorf("off-spec chunking: %s, want %d-byte chunks (chunked %v)", res.Chunks, *chunk, res.Chunked))
				}
			}
		}(dl)
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	for _, dl := range dls {
		if dl != nil {
			dl.Conn.Close()
		}
	}
	emit(proto.Event{Type: proto.EvResult, Conns: ok, Failed: *n - ok, Bytes: total.Load(),
		Messages: downloads.Load(), BadBodies: int(bad.Load()), Seconds: secs, Errors: errors.list()})
}

// tlsInfo describes what a handshake negotiated.
func tlsInfo(c net.Conn) string {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return ""
	}
	cs := tc.ConnectionState()
	return fmt.Sprintf("%s %s %s ALPN %q", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), cs.CurveID, cs.NegotiatedProtocol)
}

func runHandshake(d client.Dialer) {
	if d.TLS == nil {
		fmt.Fprintln(os.Stderr, "loadclient: -mode handshake needs -tls-ca")
		os.Exit(2)
	}
	if *workers < 1 || *workers > 256 {
		fmt.Fprintln(os.Stderr, "loadclient: -mode handshake: -workers must be 1..256 (one source address each)")
		os.Exit(2)
	}
	// Prime: one round per worker's cache key (all share one), so with
	// -resume the measured handshakes can resume from the first.
	var info string
	if c, err := d.Dial(*addr); err == nil {
		info = tlsInfo(c)
		helloOnce(c)
		c.Close()
	} else {
		errors.add(err)
	}
	emit(proto.Event{Type: proto.EvReady, Conns: *workers})
	select {
	case <-goCh:
	case <-stopCh:
	}
	var (
		rounds, resumed atomic.Int64
		wg              sync.WaitGroup
		stopping        atomic.Bool
	)
	start := time.Now()
	go func() {
		select {
		case <-stopCh:
		case <-time.After(*duration):
		}
		stopping.Store(true)
	}()
	for w := range *workers {
		wd := d
		wd.Src = workerSrc(d.Src, w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopping.Load() {
				c, err := wd.Dial(*addr)
				if err != nil {
					errors.add(err)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				err = helloOnce(c)
				did := c.(*tls.Conn).ConnectionState().DidResume
				c.Close()
				if err != nil {
					errors.add(err)
					continue
				}
				rounds.Add(1)
				if did {
					resumed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	emit(proto.Event{Type: proto.EvResult, Conns: *workers, Messages: rounds.Load(), Resumed: resumed.Load(),
		Seconds: secs, TLS: info, Errors: errors.list()})
}

// workerSrc is handshake worker w's source address: 127.100.w.X, X the
// last byte of src (1 if src is not an IPv4 address).
func workerSrc(src string, w int) string {
	x := byte(1)
	if ip := net.ParseIP(src).To4(); ip != nil {
		x = ip[3]
	}
	return net.IPv4(127, 100, byte(w), x).String()
}

var helloReq = []byte("GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")

// helloOnce sends GET /hello on c and reads the answer (reading is also
// what delivers a TLS 1.3 session ticket to the client's cache).
func helloOnce(c net.Conn) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(helloReq); err != nil {
		return err
	}
	st, body, err := client.ReadResponse(bufio.NewReaderSize(c, 512), "GET")
	if err != nil {
		return err
	}
	if st != 200 || string(body) != "Hello, World!" {
		return fmt.Errorf("GET /hello: status %d body %.40q", st, body)
	}
	return nil
}
