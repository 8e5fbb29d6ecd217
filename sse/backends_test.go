package sse

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/streamd/streamd/internal/testsrv"
	"github.com/streamd/streamd/loop"
)

// streamData reads an event stream's data fields, one string per event,
// until it has n of them.
func streamData(body io.Reader, n int) ([]string, error) {
	br := bufio.NewReader(body)
	var out []string
	var data []string
	for len(out) < n {
		line, err := br.ReadString('\n')
		if err != nil {
			return out, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if data != nil {
				out = append(out, strings.Join(data, "\n"))
				data = nil
			}
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	return out, nil
}

// TestBothBackendsOneHub: one Server serves its routes on the gnet loops
// (Serve) and inside net/http over HTTP/2 with TLS (HTTPHandler) at once;
// one hub publishes to subscribers of both: 3 on the loops and 8 on one
// HTTP/2 connection (more than a browser's 6 per origin over HTTP/1.1).
// Every subscriber gets every event, in order.
func TestBothBackendsOneHub(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers")
	}
	hub := newHub(t, loop.HubConfig{})
	routes, _ := topicRoutes(hub, Options{})
	srv := loop.New(loop.Config{Addr: "127.0.0.1:0", Loops: 2, Logger: testsrv.Logger()})
	routes(srv)
	h := srv.HTTPHandler()
	hs := httptest.NewUnstartedServer(h)
	hs.EnableHTTP2 = true
	hs.StartTLS()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	<-srv.Ready()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		sctx, scancel := context.WithTimeout(context.Background(), testTimeout)
		defer scancel()
		if err := h.Shutdown(sctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		hs.Close()
	}()

	const events = 20
	type sub struct {
		name string
		resp *http.Response
	}
	var subs []sub
	plain := &http.Client{Transport: &http.Transport{}, Timeout: testTimeout}
	defer plain.CloseIdleConnections()
	for i := range 3 {
		resp, err := plain.Get("http://" + srv.Addr().String() + "/events?topic=both")
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub{"gnet " + strconv.Itoa(i), resp})
	}
	h2 := hs.Client()
	h2.Timeout = testTimeout
	defer h2.CloseIdleConnections()
	for i := range 8 {
		resp, err := h2.Get(hs.URL + "/events?topic=both")
		if err != nil {
			t.Fatal(err)
		}
		if resp.ProtoMajor != 2 {
			t.Fatalf("net/http stream %d over HTTP/%d; want 2", i, resp.ProtoMajor)
		}
		subs = append(subs, sub{"HTTP/2 " + strconv.Itoa(i), resp})
	}
	for _, s := range subs {
		defer s.resp.Body.Close()
		if s.resp.StatusCode != 200 || s.resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("%s: %d %q", s.name, s.resp.StatusCode, s.resp.Header.Get("Content-Type"))
		}
	}
	waitFor(t, "11 subscribers", func() bool { return hub.TopicStats("both").Subscribers == 11 })
	if st := srv.Stats(); st.Open != 11 {
		t.Errorf("Stats.Open = %d; want 11 (3 on the loops, 8 on the net/http backend)", st.Open)
	}
	want := make([]string, events)
	for i := range events {
		want[i] = "e" + strconv.Itoa(i)
		if _, err := Publish(hub, "both", Event{Data: want[i]}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(subs))
	for _, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := streamData(s.resp.Body, events)
			if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
				errs <- fmt.Errorf("%s: got %q, %v; want e0…e%d", s.name, got, err, events-1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestHTTPHandlerInMux: an existing net/http application adds a streamd
// route to its own mux.
func TestHTTPHandlerInMux(t *testing.T) {
	hub := newHub(t, loop.HubConfig{})
	srv := loop.New(loop.Config{Loops: 1, Logger: testsrv.Logger()})
	srv.GET("/events", func(c *loop.Ctx) {
		Open(c, Options{Hub: hub, Heartbeat: -1}, func(s *Stream) { _ = s.Join("news") })
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "the app's own page") })
	mux.Handle("/events", srv.HTTPHandler())
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_ = srv.HTTPHandler().Shutdown(ctx)
	}()
	client := &http.Client{Transport: &http.Transport{}, Timeout: testTimeout}
	defer client.CloseIdleConnections()
	resp, err := client.Get(hs.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "the app's own page" {
		t.Errorf("the app's route: %q", b)
	}
	resp, err = client.Get(hs.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	waitFor(t, "the subscriber", func() bool { return hub.TopicStats("news").Subscribers == 1 })
	if _, err := Publish(hub, "news", Event{Data: "hello from the hub"}); err != nil {
		t.Fatal(err)
	}
	got, err := streamData(resp.Body, 1)
	if err != nil || len(got) != 1 || got[0] != "hello from the hub" {
		t.Errorf("the streamd route: %q, %v", got, err)
	}
}
