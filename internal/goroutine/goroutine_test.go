package goroutine

import (
	"runtime"
	"sync"
	"testing"
)

func TestIDStableAndDistinct(t *testing.T) {
	runtime.LockOSThread() // see below
	defer runtime.UnlockOSThread()
	me := ID()
	if me == 0 {
		t.Fatal("ID() = 0")
	}
	for i := 0; i < 100; i++ {
		if ID() != me {
			t.Fatal("ID changed within one goroutine")
		}
	}
	const n = 50
	idc := make(chan uintptr)
	var wg sync.WaitGroup
	release := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Locked, as event loops are: the gettid fallback identifies
			// goroutines only by the threads they are locked to.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			idc <- ID()
			<-release // all alive at once: IDs must differ
		}()
	}
	ids := make([]uintptr, n)
	for i := range ids {
		ids[i] = <-idc
	}
	close(release)
	wg.Wait()
	seen := map[uintptr]bool{me: true}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("two live goroutines share ID %#x", id)
		}
		seen[id] = true
	}
}

// growStack forces stack growth (copying) to check IDs survive it.
func growStack(depth int) uintptr {
	var pad [256]byte
	if depth < 50 {
		return growStack(depth+1) + uintptr(pad[depth%256])
	}
	return ID()
}

func TestIDSurvivesStackGrowth(t *testing.T) {
	before := ID()
	if after := growStack(0); after != before {
		t.Fatalf("ID before stack growth %#x, after %#x", before, after)
	}
}

func BenchmarkID(b *testing.B) {
	for i := 0; i < b.N; i++ {
		_ = ID()
	}
}
