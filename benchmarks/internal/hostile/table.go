package hostile

import (
	"fmt"
	"strconv"
	"strings"
)

// Table renders results as one markdown table, a row per attack and
// server, in the order given.
func Table(results []Result) string {
	var b strings.Builder
	b.WriteString("| attack | server | RSS before, MiB | peak growth, MiB | growth at end of attack, MiB | growth after close, MiB | client outcome | responsive (probes ok, slowest) |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---|---|\n")
	for _, r := range results {
		if r.Err != "" {
			fmt.Fprintf(&b, "| %s | %s | — | — | — | — | error: %s | — |\n", r.Attack, r.Server, esc(r.Err))
			continue
		}
		outcome := r.Summary
		if r.Capped != "" {
			outcome += "; **" + r.Capped + "**"
		}
		if r.WarmUpRetried != "" {
			outcome += "; warm-up failed once (" + r.WarmUpRetried + ") and was run again"
		}
		if !r.ServerAlive {
			outcome += "; **server died**"
			if r.ServerOutput != "" {
				outcome += ": " + firstLine(r.ServerOutput)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Attack, r.Server,
			mib(r.RSSBeforeKiB), growth(r.PeakKiB, r.RSSBeforeKiB), growth(r.EndKiB, r.RSSBeforeKiB), growth(r.AfterKiB, r.RSSBeforeKiB),
			esc(outcome), r.Responsive())
	}
	return b.String()
}

// PeakGrowthMiB is the peak RSS growth over the baseline, in MiB.
func (r *Result) PeakGrowthMiB() float64 { return float64(r.PeakKiB-r.RSSBeforeKiB) / 1024 }

func mib(kib int64) string { return strconv.FormatFloat(float64(kib)/1024, 'f', 1, 64) }

func growth(kib, base int64) string {
	if kib <= 0 {
		return "—"
	}
	d := float64(kib-base) / 1024
	s := strconv.FormatFloat(d, 'f', 1, 64)
	if d >= 0 {
		s = "+" + s
	}
	return s
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	if len(l) > 120 {
		l = l[:120] + "…"
	}
	return l
}

func esc(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(s, "\n", " ")
}
