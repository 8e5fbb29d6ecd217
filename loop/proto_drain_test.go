package loop

import "testing"

// TestDrainRunOnce: Run runs the callback once and clears it first, so a
// callback that sets another (a producer still over the watermark) keeps
// it for the next drain.
func TestDrainRunOnce(t *testing.T) {
	var d Drain
	d.Run() // none: nothing happens
	runs := 0
	var again func()
	again = func() {
		runs++
		if d.Pending() {
			t.Errorf("Pending() in the callback = true; want false (cleared before it runs)")
		}
		if runs == 1 {
			d.fn = again // as Set would, without a connection
		}
	}
	d.fn = again
	d.Run()
	if runs != 1 || !d.Pending() {
		t.Fatalf("after the first Run: runs = %d, Pending() = %v; want 1, true", runs, d.Pending())
	}
	d.Run()
	d.Run()
	if runs != 2 || d.Pending() {
		t.Errorf("after three Runs: runs = %d, Pending() = %v; want 2, false", runs, d.Pending())
	}
}
