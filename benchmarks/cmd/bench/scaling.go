package main

import (
	"fmt"
	"strings"
)

// Multi-loop scaling, measured: the same server with one event loop pinned
// to a CPU (the other scenarios' setting), one loop unpinned, and two loops
// unpinned. On the project's 2-core machine the load shares those two
// cores, so this measures what a second loop costs per CPU-second and what
// it gains in throughput next to a client that needs CPU too; SCALING.md
// projects from it to larger machines.

var (
	scaling1Pinned = Variant{Loops: 1}
	scaling1       = Variant{Loops: 1, Unpinned: true}
	scaling2       = Variant{Loops: 2, Unpinned: true}
)

// scalingBases are the scenarios run at 1 vs 2 loops, and the servers
// each is run for: streamd, and the raw gnet ceiling where it applies.
// chunked is left out: one connection lives on one loop.
var scalingBases = []struct {
	name    string
	servers []string
}{
	{"plaintext-keepalive", []string{"streamd", "gnetraw"}},
	{"plaintext-pipelined", []string{"streamd", "gnetraw"}},
	{"ws-echo", []string{"streamd"}},
	{"fanout", []string{"streamd"}},
}

const scalingCaveat = "The load (wrk with one thread, or the load clients, and the driver) runs on the same CPUs: " +
	"pinned, the server has CPU 0 and the load CPU 1; unpinned, server and load share both CPUs, " +
	"so a second loop competes with the client for CPU and throughput can rise by much less than 2×. " +
	"Server CPU-seconds are measured either way, so *per server CPU-s* says whether a second loop costs anything per request; " +
	"*2 ÷ 1 loops* compares the two unpinned rows (same placement, only the loop count differs). " +
	"One wrk thread saturates near 0.4–0.6M pipelined requests/s, so the pipelined scenario cannot show a throughput gain here. " +
	"Throughput on more cores with the client on other machines is projected in SCALING.md, not measured."

// scalingScenarios derives scaling-<base> from each base scenario.
func scalingScenarios() []Scenario {
	base := map[string]Scenario{}
	for _, sc := range allScenarios() {
		base[sc.Name] = sc
	}
	var out []Scenario
	for _, b := range scalingBases {
		sc, ok := base[b.name]
		if !ok {
			continue
		}
		sc.Name = "scaling-" + b.name
		sc.Title = "Scaling, 1 vs 2 loops: " + sc.Title
		sc.Primary = sc.Chart // throughput: the spread and the ratios are of it
		sc.Target = "— (measured, no DESIGN target; SCALING.md projects from it)"
		sc.Judge = nil
		sc.Variants = []Variant{scaling1Pinned, scaling1, scaling2}
		sc.Servers = b.servers
		out = append(out, sc)
	}
	return out
}

// knownScenarios is every scenario the driver can run, scaling last.
func knownScenarios() []Scenario {
	return append(allScenarios(), scalingScenarios()...)
}

func knownScenarioNames() []string {
	var n []string
	for _, s := range knownScenarios() {
		n = append(n, s.Name)
	}
	return n
}

// scalingRatio returns the ratio of key between two variants of server in
// sr's medians.
func scalingRatio(med map[string]Figures, server, key string, num, den Variant) (float64, bool) {
	a, ok1 := med[(&Row{Server: server, Variant: num}).Label()][key]
	b, ok2 := med[(&Row{Server: server, Variant: den}).Label()][key]
	if !ok1 || !ok2 || b == 0 {
		return 0, false
	}
	return a / b, true
}

// scalingSummary is one server's 2-vs-1-loop line: throughput and
// efficiency ratios, both unpinned.
func scalingSummary(sr *ScenarioResult, med map[string]Figures, server string) (string, bool) {
	label := func(key string) string {
		for _, c := range sr.Columns {
			if c.Key == key {
				return c.Label
			}
		}
		return key
	}
	var parts []string
	tp, ok := scalingRatio(med, server, sr.Chart, scaling2, scaling1)
	if !ok {
		return "", false
	}
	parts = append(parts, fmt.Sprintf("%s %.2f× (parallel efficiency %.0f%%)", label(sr.Chart), tp, 100*tp/2))
	if eff, ok := scalingRatio(med, server, "eff", scaling2, scaling1); ok {
		parts = append(parts, fmt.Sprintf("%s %.2f×", label("eff"), eff))
	}
	if pin, ok := scalingRatio(med, server, sr.Chart, scaling1, scaling1Pinned); ok {
		parts = append(parts, fmt.Sprintf("1 loop unpinned ÷ pinned: %s %.2f×", label(sr.Chart), pin))
	}
	return strings.Join(parts, "; "), true
}

// writeScaling renders a scaling scenario: a row per server and variant,
// then each server's 2 ÷ 1 loop ratios.
func writeScaling(b *strings.Builder, sr *ScenarioResult, pinned, caveat bool) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	med := sr.medians()
	w("| server | loops | CPUs |")
	for _, c := range sr.Columns {
		w(" %s |", c.Label)
	}
	w(" spread | notes |\n|---|---:|---|")
	for range sr.Columns {
		w("---:|")
	}
	w("---:|---|\n")
	var servers []string
	for _, row := range sr.Rows {
		if len(servers) == 0 || servers[len(servers)-1] != row.Server {
			servers = append(servers, row.Server)
		}
		cpus := "server CPU 0, load CPU 1"
		if row.Variant.Unpinned || !pinned {
			cpus = "all, shared with the load"
		}
		w("| %s | %d | %s |", row.Server, row.Variant.Loops, cpus)
		if len(row.Runs) == 0 {
			for range sr.Columns {
				w(" — |")
			}
			w(" — | %s |\n", mdEscape(row.Err))
			continue
		}
		for _, c := range sr.Columns {
			if m, _, ok := stats(row.Runs, c.Key); ok {
				w(" %s |", fmtNum(m, c.Digits))
			} else {
				w(" — |")
			}
		}
		spreadS := "—"
		if _, spread, _ := stats(row.Runs, sr.Primary); len(row.Runs) > 1 {
			spreadS = fmt.Sprintf("%.0f%%", 100*spread)
		}
		notes := strings.Join(row.Notes, "; ")
		if row.Err != "" {
			notes = strings.TrimPrefix(notes+"; error: "+row.Err, "; ")
		}
		w(" %s | %s |\n", spreadS, mdEscape(notes))
	}
	w("\n**2 ÷ 1 loops, both unpinned:**\n\n")
	for _, s := range servers {
		if line, ok := scalingSummary(sr, med, s); ok {
			w("- **%s**: %s\n", s, line)
		} else {
			w("- **%s**: not measured\n", s)
		}
	}
	if caveat {
		w("\n%s\n", scalingCaveat)
	} else {
		w("\nThe caveat of the first scaling section applies.\n")
	}
}
