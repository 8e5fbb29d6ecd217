package hostile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/streamd/streamd/benchmarks/internal/client"
)

// Attack names.
const (
	Pipeliner  = "pipeliner"
	ChunkAmp   = "chunk-amp"
	ChunkAmp15 = "chunk-amp-15"
	SlowBodies = "slow-bodies"
)

// Attacks lists the attacks in report order.
func Attacks() []Attack {
	return []Attack{
		{
			Name: Pipeliner, Title: "Non-reading pipeliner",
			What: func(c Config) string {
				return fmt.Sprintf("%d clients each pipeline `GET /hello` (%d requests per write) as fast as the server takes them and never read an answer. "+
					"A client stops after %s or %d MiB written, or when its writes make no progress for %s (it has been backpressured: TCP flow control "+
					"reached it because the server stopped reading); \"at\" is when it stopped. The connections stay open %s after the last client stops, then close.",
					c.Pipeliners, c.PipeBatch, c.PipeMaxDur, c.PipeMaxBytes>>20, c.PipeStall, c.Hold)
			},
			start: startPipeliner,
		},
		{
			Name: ChunkAmp, Title: "Chunk amplification (16-digit chunk sizes)",
			What: func(c Config) string { return chunkWhat(c, 16) },
			start: func(ctx context.Context, addr string, cfg Config, sent *atomic.Int64, t0 time.Time) (func() []Client, func()) {
				return startChunkAmp(ctx, addr, cfg, sent, t0, 16)
			},
		},
		{
			Name: ChunkAmp15, Title: "Chunk amplification (15-digit chunk sizes)",
			What: func(c Config) string {
				return chunkWhat(c, 15) + " The same attack as above with one digit less, the widest chunk size fasthttp accepts, so that every server parses it."
			},
			start: func(ctx context.Context, addr string, cfg Config, sent *atomic.Int64, t0 time.Time) (func() []Client, func()) {
				return startChunkAmp(ctx, addr, cfg, sent, t0, 15)
			},
		},
		{
			Name: SlowBodies, Title: "Slow bodies",
			What: func(c Config) string {
				return fmt.Sprintf("%d clients each send a `POST /upload` head with `Content-Length: %d` and all of the body but %d bytes at once, "+
					"then one more byte every %s for %s after every client has sent (the body never completes). Each connection's outcome is taken at the end: "+
					"parked (open, no answer), answered (status), or closed by the server.",
					c.SlowClients, c.SlowBody, c.SlowWithheld, c.SlowEvery, c.SlowHold)
			},
			start: startSlowBodies,
		},
	}
}

// AttackByName returns the named attack.
func AttackByName(name string) (Attack, bool) {
	for _, a := range Attacks() {
		if a.Name == name {
			return a, true
		}
	}
	return Attack{}, false
}

func since(t0 time.Time) float64 { return round3(time.Since(t0).Seconds()) }

// shortErr trims a network error to what matters ("connection reset by
// peer", "broken pipe", "i/o timeout", "EOF").
func shortErr(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

func dial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) }

func closeAll(conns []net.Conn) func() {
	return func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}
}

// --- non-reading pipeliner ---

func startPipeliner(ctx context.Context, addr string, cfg Config, sent *atomic.Int64, t0 time.Time) (func() []Client, func()) {
	batch := []byte(strings.Repeat(helloReq, cfg.PipeBatch))
	clients := make([]Client, cfg.Pipeliners)
	conns := make([]net.Conn, cfg.Pipeliners)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &clients[i]
			c, err := dial(addr)
			if err != nil {
				cl.Outcome, cl.Err, cl.At = "dial failed", shortErr(err), since(t0)
				return
			}
			conns[i] = c
			start := time.Now()
			for {
				switch {
				case ctx.Err() != nil:
					cl.Outcome = "stopped at the RSS cap"
				case cl.Sent >= cfg.PipeMaxBytes:
					cl.Outcome = "wrote the byte limit unblocked"
				case time.Since(start) >= cfg.PipeMaxDur:
					cl.Outcome = "wrote until the time limit unblocked"
				}
				if cl.Outcome != "" {
					cl.At = since(t0)
					return
				}
				_ = c.SetWriteDeadline(time.Now().Add(cfg.PipeStall))
				n, err := c.Write(batch)
				cl.Sent += int64(n)
				sent.Add(int64(n))
				if err != nil {
					if errors.Is(err, os.ErrDeadlineExceeded) {
						cl.Outcome = "backpressured"
						cl.At = round3(time.Since(t0).Seconds() - cfg.PipeStall.Seconds())
					} else {
						cl.Outcome, cl.Err, cl.At = "write failed", shortErr(err), since(t0)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	return func() []Client { return clients }, closeAll(conns)
}

// --- chunk amplification ---

func chunkWhat(c Config, digits int) string {
	return fmt.Sprintf("%d clients at once each `POST /upload` a legal %d KiB body as 1-byte chunks with %d-hex-digit sizes "+
		"(`%%0%dx\\r\\n` + 1 byte + `\\r\\n`: %.1f MiB on the wire each); the endpoint reads the whole body and answers its length. "+
		"Outcome: each request's answer.", c.ChunkClients, c.ChunkBody>>10, digits, digits, float64(len(chunkWire(c.ChunkBody, digits)))/(1<<20))
}

// chunkWire encodes a body of n bytes as 1-byte chunks whose sizes are
// zero-padded to digits hex digits, then the last chunk.
func chunkWire(n, digits int) []byte {
	one := fmt.Sprintf("%0*x\r\nx\r\n", digits, 1)
	b := make([]byte, 0, n*len(one)+5)
	for range n {
		b = append(b, one...)
	}
	return append(b, "0\r\n\r\n"...)
}

type answer struct {
	status int
	body   []byte
	err    error
	at     float64
}

func startChunkAmp(ctx context.Context, addr string, cfg Config, sent *atomic.Int64, t0 time.Time, digits int) (func() []Client, func()) {
	wire := chunkWire(cfg.ChunkBody, digits)
	head := []byte(uploadHead + "Transfer-Encoding: chunked\r\n\r\n")
	want := strconv.Itoa(cfg.ChunkBody)
	clients := make([]Client, cfg.ChunkClients)
	conns := make([]net.Conn, cfg.ChunkClients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &clients[i]
			c, err := dial(addr)
			if err != nil {
				cl.Outcome, cl.Err, cl.At = "dial failed", shortErr(err), since(t0)
				return
			}
			conns[i] = c
			_ = c.SetDeadline(time.Now().Add(cfg.ChunkTimeout))
			ansc := make(chan answer, 1)
			go func() {
				st, body, err := client.ReadResponse(bufio.NewReader(c), "POST")
				ansc <- answer{st, body, err, since(t0)}
			}()
			var (
				werr error
				ans  *answer
			)
			n, werr := c.Write(head)
			cl.Sent += int64(n)
			for off := 0; werr == nil && off < len(wire) && ans == nil && ctx.Err() == nil; {
				end := min(off+64<<10, len(wire))
				n, werr = c.Write(wire[off:end])
				off += n
				cl.Sent += int64(n)
				sent.Add(int64(n))
				select {
				case a := <-ansc: // answered before the body was sent
					ans = &a
				default:
				}
			}
			if ans == nil {
				a := <-ansc // bounded by the connection deadline
				ans = &a
			}
			cl.At = ans.at
			switch {
			case ans.err != nil:
				cl.Outcome = "no answer"
				cl.Err = shortErr(ans.err)
				if werr != nil {
					cl.Err = "write: " + shortErr(werr) + ", read: " + cl.Err
				}
			case ans.status == 200 && string(ans.body) == want:
				cl.Outcome, cl.Status = "answered 200, length right", 200
			default:
				cl.Outcome, cl.Status = fmt.Sprintf("answered %d %.40q", ans.status, strings.TrimSpace(string(ans.body))), ans.status
			}
		}()
	}
	wg.Wait()
	return func() []Client { return clients }, closeAll(conns)
}

// --- slow bodies ---

type slowConn struct {
	mu       sync.Mutex
	c        net.Conn
	sent     int64
	sentAt   float64
	sendErr  error
	status   int // answer's status, 0 if none
	answerAt float64
	readErr  error // the connection ended without an answer
	endedAt  float64
}

func (s *slowConn) done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status != 0 || s.readErr != nil || s.sendErr != nil
}

func startSlowBodies(ctx context.Context, addr string, cfg Config, sent *atomic.Int64, t0 time.Time) (func() []Client, func()) {
	first := []byte(uploadHead + "Content-Length: " + strconv.Itoa(cfg.SlowBody) + "\r\n\r\n" +
		strings.Repeat("s", cfg.SlowBody-cfg.SlowWithheld))
	conns := make([]*slowConn, cfg.SlowClients)
	var (
		sentWG sync.WaitGroup // initial parts sent (or failed)
		allWG  sync.WaitGroup // trickling over
		dials  = make(chan struct{}, 64)
		hold   = make(chan struct{}) // closed when every client has sent its first part
		holdAt time.Time
	)
	for i := range conns {
		sc := &slowConn{}
		conns[i] = sc
		sentWG.Add(1)
		allWG.Add(1)
		go func() {
			defer allWG.Done()
			dials <- struct{}{}
			c, err := dial(addr)
			<-dials
			if err != nil {
				sc.mu.Lock()
				sc.sendErr, sc.sentAt = fmt.Errorf("dial: %w", err), since(t0)
				sc.mu.Unlock()
				sentWG.Done()
				return
			}
			sc.mu.Lock()
			sc.c = c
			sc.mu.Unlock()
			go func() { // the server's answer, or the end of the connection
				st, _, err := client.ReadResponse(bufio.NewReader(c), "POST")
				sc.mu.Lock()
				if st != 0 {
					sc.status, sc.answerAt = st, since(t0)
				} else {
					sc.readErr, sc.endedAt = err, since(t0)
				}
				sc.mu.Unlock()
			}()
			_ = c.SetWriteDeadline(time.Now().Add(cfg.SlowSendTimeout))
			n, err := c.Write(first)
			sent.Add(int64(n))
			sc.mu.Lock()
			sc.sent, sc.sendErr, sc.sentAt = int64(n), err, since(t0)
			sc.mu.Unlock()
			sentWG.Done()
			<-hold
			end := time.NewTimer(time.Until(holdAt.Add(cfg.SlowHold)))
			defer end.Stop()
			tick := time.NewTicker(cfg.SlowEvery)
			defer tick.Stop()
			for {
				select {
				case <-end.C:
					return
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if sc.done() {
					continue // answered, closed or failed: hold it as it is
				}
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				n, err := c.Write([]byte{'s'})
				sent.Add(int64(n))
				sc.mu.Lock()
				sc.sent += int64(n)
				if err != nil && sc.sendErr == nil {
					sc.sendErr, sc.sentAt = err, since(t0)
				}
				sc.mu.Unlock()
			}
		}()
	}
	sentWG.Wait()
	holdAt = time.Now()
	close(hold)
	allWG.Wait()
	outcome := func() []Client {
		out := make([]Client, len(conns))
		for i, sc := range conns {
			sc.mu.Lock()
			cl := Client{Sent: sc.sent}
			switch {
			case sc.status != 0:
				cl.Outcome, cl.Status, cl.At = fmt.Sprintf("answered %d", sc.status), sc.status, sc.answerAt
			case sc.readErr != nil:
				cl.Outcome, cl.Err, cl.At = "closed by the server, no answer", shortErr(sc.readErr), sc.endedAt
			case errors.Is(sc.sendErr, os.ErrDeadlineExceeded):
				// Still open, but the server stopped taking its bytes.
				cl.Outcome, cl.At = "parked, server not reading", sc.sentAt
			case sc.sendErr != nil:
				cl.Outcome, cl.Err, cl.At = "send failed", shortErr(sc.sendErr), sc.sentAt
			default:
				cl.Outcome, cl.At = "parked (open, unanswered)", sc.sentAt
			}
			sc.mu.Unlock()
			out[i] = cl
		}
		return out
	}
	closeConns := func() {
		for _, sc := range conns {
			sc.mu.Lock()
			if sc.c != nil {
				sc.c.Close()
			}
			sc.mu.Unlock()
		}
	}
	return outcome, closeConns
}
