package peer

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// Common is the flags every TLS-capable benchmark server shares besides
// -addr and -loops.
type Common struct {
	// TLSCert and TLSKey are PEM files; with both set the server speaks
	// HTTPS only (the driver uses one ECDSA P-256 certificate for all).
	TLSCert, TLSKey *string
	// HeapFile, when set, makes SIGUSR2 write the server's heap figures
	// there (see HeapOnSignal).
	HeapFile *string
}

// CommonFlags registers -tls-cert, -tls-key and -heap-file.
func CommonFlags() Common {
	return Common{
		TLSCert:  flag.String("tls-cert", "", "PEM certificate: serve HTTPS (with -tls-key)"),
		TLSKey:   flag.String("tls-key", "", "PEM private key of -tls-cert"),
		HeapFile: flag.String("heap-file", "", "on SIGUSR2: runtime.GC, then write heap figures (JSON) to this file"),
	}
}

// TLS reports whether -tls-cert and -tls-key were given.
func (c Common) TLS() bool { return *c.TLSCert != "" && *c.TLSKey != "" }

// Certificate loads -tls-cert and -tls-key.
func (c Common) Certificate() (tls.Certificate, error) {
	return tls.LoadX509KeyPair(*c.TLSCert, *c.TLSKey)
}

// Start starts what the common flags ask for that runs beside the server.
func (c Common) Start() {
	if *c.HeapFile != "" {
		HeapOnSignal(*c.HeapFile)
	}
}

// Heap is what HeapOnSignal writes: runtime.MemStats after a forced GC.
type Heap struct {
	HeapAlloc  uint64 `json:"heap_alloc"`  // live heap objects, bytes
	HeapInuse  uint64 `json:"heap_inuse"`  // bytes in in-use spans
	StackInuse uint64 `json:"stack_inuse"` // goroutine stacks, bytes
	Sys        uint64 `json:"sys"`         // obtained from the OS, bytes
	NumGC      uint32 `json:"num_gc"`
	Goroutines int    `json:"goroutines"`
}

// HeapOnSignal starts a goroutine that, on each SIGUSR2, runs a GC and
// writes Heap as JSON to path (through a temporary file and a rename, so
// a reader never sees half of it). Live heap per connection is then
// HeapAlloc's growth, free of the garbage RSS still holds.
func HeapOnSignal(path string) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR2)
	go func() {
		for range ch {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b, _ := json.Marshal(Heap{HeapAlloc: ms.HeapAlloc, HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse,
				Sys: ms.Sys, NumGC: ms.NumGC, Goroutines: runtime.NumGoroutine()})
			tmp := path + ".tmp"
			if os.WriteFile(tmp, b, 0o644) == nil {
				_ = os.Rename(tmp, path)
			}
		}
	}()
}
