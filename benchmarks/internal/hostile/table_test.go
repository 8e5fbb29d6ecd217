package hostile

import (
	"strings"
	"testing"
)

func TestTableNotesWarmUpRetry(t *testing.T) {
	r := Result{Attack: SlowBodies, Server: "nbio", RSSBeforeKiB: 1024, PeakKiB: 2048, EndKiB: 2048, AfterKiB: 1024,
		Summary: "5 parked", ServerAlive: true, WarmUpRetried: "GET /hello, Connection: close, 1 of 20: status line: EOF"}
	got := Table([]Result{r})
	if !strings.Contains(got, "warm-up failed once (GET /hello, Connection: close, 1 of 20: status line: EOF) and was run again") {
		t.Errorf("the table does not note the warm-up retry:\n%s", got)
	}
	r.WarmUpRetried = ""
	if got := Table([]Result{r}); strings.Contains(got, "warm-up") {
		t.Errorf("the table notes a warm-up retry that did not happen:\n%s", got)
	}
}
