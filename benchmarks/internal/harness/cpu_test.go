package harness

import (
	"os"
	"testing"
	"time"
)

// TestCPUTimes checks the process CPU clock against /proc/PID/stat: it
// must be readable, advance with work as the ticks do, and agree with
// utime+stime to within a few ticks.
func TestCPUTimes(t *testing.T) {
	t0, err := CPUTimes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the ticks show 50 ms of CPU (the machine may be shared).
	var t1 CPUTime
	for deadline := time.Now().Add(10 * time.Second); ; {
		if t1, err = CPUTimes(os.Getpid()); err != nil {
			t.Fatal(err)
		}
		if t1.User+t1.Sys-t0.User-t0.Sys >= 0.05 || time.Now().After(deadline) {
			break
		}
	}
	d := t1.Sub(t0)
	if d.Total < 0.02 {
		t.Errorf("CPU clock advanced %.3f s while the ticks advanced %.3f s", d.Total, d.User+d.Sys)
	}
	if ticks := t1.User + t1.Sys; t1.Total < ticks-0.05 || t1.Total > ticks+0.05 {
		t.Errorf("CPU clock %.3f s, utime+stime %.3f s; want within 50 ms", t1.Total, ticks)
	}
	if u, s, ok := d.Split(); ok && (u < 0 || s < 0 || u+s < d.Total-1e-9 || u+s > d.Total+1e-9) {
		t.Errorf("Split() = %v, %v; want non-negative parts adding up to %v", u, s, d.Total)
	}
}
