package natsbroker

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// BenchmarkPublish measures acknowledged publishes (128-byte payloads) per
// second and per CPU-second, from one goroutine and from 8 (on 8 topics,
// and on one topic, whose publishes a process serialises). The raw cases
// are the baseline: jetstream.PublishMsg with only a Nats-Msg-Id, without
// the chain (no per-topic serialisation, no expected-sequence check).
//
// By default the nats-server runs in the benchmark's process, so
// "msgs/cpu-s" counts broker and server together. With NATS_URL set the
// benchmark uses that server instead and "msgs/cpu-s" is the broker's side
// alone; with NATS_PID also set, "msgs/server-cpu-s" is the server's, from
// /proc/NATS_PID/stat.
func BenchmarkPublish(b *testing.B) {
	opts := Options{Stream: "BENCH", MaxMsgsPerTopic: 100000}
	var br *Broker
	if url := os.Getenv("NATS_URL"); url != "" {
		opts.URLs = []string{url}
		var err error
		if br, err = New(context.Background(), opts); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = br.Close() })
	} else {
		br = newBroker(b, startServer(b), opts)
	}
	serverPID, _ := strconv.Atoi(os.Getenv("NATS_PID"))
	for _, bc := range []struct {
		name       string
		goroutines int
		oneTopic   bool
		raw        bool // baseline: jetstream.PublishMsg with a Nats-Msg-Id only
	}{
		{"goroutines=1", 1, false, false},
		{"goroutines=8/topics=8", 8, false, false},
		{"goroutines=8/topics=1", 8, true, false},
		{"raw/goroutines=1", 1, false, true},
		{"raw/goroutines=8", 8, false, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			data := make([]byte, 128)
			topic := func(g int) string {
				if bc.oneTopic {
					return "bench"
				}
				return fmt.Sprint("bench-", g)
			}
			ctx := context.Background()
			for g := range bc.goroutines { // anchors and chain heads out of the way
				if _, err := br.Publish(ctx, topic(g), Delivery{Data: data}); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			cpu0, srv0 := processCPU(), serverCPU(serverPID)
			start := time.Now()
			b.ResetTimer()
			var wg sync.WaitGroup
			errs := make(chan error, bc.goroutines)
			for g := range bc.goroutines {
				n := b.N / bc.goroutines
				if g < b.N%bc.goroutines {
					n++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					subject := string(appendToken([]byte(br.dataPrefix), topic(g)))
					for range n {
						var err error
						if bc.raw {
							_, err = br.js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data,
								Header: nats.Header{hdrMsgID: []string{nuid.Next()}}})
						} else {
							_, err = br.Publish(ctx, topic(g), Delivery{Data: data})
						}
						if err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			elapsed := time.Since(start).Seconds()
			cpu, srv := processCPU()-cpu0, serverCPU(serverPID)-srv0
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed, "msgs/s")
			if cpu > 0 {
				b.ReportMetric(float64(b.N)/cpu.Seconds(), "msgs/cpu-s")
			}
			if serverPID > 0 && srv > 0 {
				b.ReportMetric(float64(b.N)/srv.Seconds(), "msgs/server-cpu-s")
			}
		})
	}
}

// processCPU returns the user and system CPU time of this process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU returns the user and system CPU time of process pid (Linux),
// 0 when pid is 0 or unreadable.
func serverCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are fields 14 and 15 of the line, 12 and 13 after ")".
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck
}
