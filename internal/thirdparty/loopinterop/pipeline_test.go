package loopinterop

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"github.com/streamd/streamd/internal/testsrv"
	"github.com/streamd/streamd/loop"
)

// testTimeout bounds every wait: generous, so a loaded 2-core machine
// under -race never turns a slow step into a failure.
const testTimeout = 10 * time.Second

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testsrv.GoleakOptions()...)
}

// forLoops runs f as subtests with 1 and 2 event loops.
func forLoops(t *testing.T, f func(t *testing.T, loops int)) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", n), func(t *testing.T) { f(t, n) })
	}
}

// echoRoutes registers GET /echo/:n, answering "n=" and the parameter.
func echoRoutes(s *loop.Server) {
	s.GET("/echo/:n", func(c *loop.Ctx) { c.Text(200, "n="+c.Param("n")) })
}

// TestPipelineFastHTTP sends requests from 16 goroutines through
// fasthttp's PipelineClient over one and two connections: every response
// must come back in its request's order, to its request.
func TestPipelineFastHTTP(t *testing.T) {
	forLoops(t, func(t *testing.T, loops int) {
		ts := testsrv.Start(t, loop.Config{Loops: loops}, echoRoutes)
		for _, conns := range []int{1, 2} {
			t.Run(fmt.Sprintf("conns=%d", conns), func(t *testing.T) {
				pc := &fasthttp.PipelineClient{
					Addr:                ts.HostPort,
					MaxConns:            conns,
					MaxPendingRequests:  1024,
					MaxIdleConnDuration: 100 * time.Millisecond,
					// Not fasthttp's default dialer: its cache cleaner
					// goroutine lives for the whole process (goleak).
					Dial: func(addr string) (net.Conn, error) {
						return net.DialTimeout("tcp", addr, testTimeout)
					},
				}
				const workers, perWorker = 16, 25
				var wg sync.WaitGroup
				errs := make(chan error, workers*perWorker)
				for w := range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
						defer fasthttp.ReleaseRequest(req)
						defer fasthttp.ReleaseResponse(resp)
						for i := range perWorker {
							id := strconv.Itoa(w*1000 + i)
							req.SetRequestURI("http://" + ts.HostPort + "/echo/" + id)
							if err := pc.DoTimeout(req, resp, testTimeout); err != nil {
								errs <- fmt.Errorf("request %s: %w", id, err)
								return
							}
							if resp.StatusCode() != 200 || string(resp.Body()) != "n="+id {
								errs <- fmt.Errorf("request %s: %d %q", id, resp.StatusCode(), resp.Body())
								return
							}
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Error(err)
				}
			})
		}
	})
}
