package main

import (
	"fmt"
	"html"
	"strings"
)

// Hand-written SVG: horizontal bar charts, no dependencies.

var palette = []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948"}

type bar struct {
	label  string
	values []float64 // one per series
}

func hbarSVG(title, unit string, series []string, bars []bar, digits int) string {
	const (
		width   = 760
		left    = 110
		right   = 120
		top     = 48
		barH    = 18
		gap     = 10
		plotW   = width - left - right
		legendH = 18
	)
	if len(bars) == 0 {
		return ""
	}
	maxV := 0.0
	for _, b := range bars {
		for _, v := range b.values {
			maxV = max(maxV, v)
		}
	}
	if maxV <= 0 {
		maxV = 1
	}
	groupH := len(series)*barH + gap
	height := top + len(bars)*groupH + legendH + 16
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&s, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&s, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", 10, html.EscapeString(title))
	fmt.Fprintf(&s, `<text x="%d" y="38" fill="#555">%s</text>`+"\n", 10, html.EscapeString(unit))
	for i, b := range bars {
		y0 := top + i*groupH
		fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y0+len(series)*barH/2+4, html.EscapeString(b.label))
		for j, v := range b.values {
			w := int(float64(plotW) * v / maxV)
			y := y0 + j*barH
			fill := palette[j%len(palette)]
			if b.label == "streamd" && len(series) == 1 {
				fill = palette[1]
			}
			fmt.Fprintf(&s, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", left, y, max(w, 1), barH-2, fill)
			fmt.Fprintf(&s, `<text x="%d" y="%d">%s</text>`+"\n", left+max(w, 1)+4, y+barH-5, fmtNum(v, digits))
		}
	}
	fmt.Fprintf(&s, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", left, top-4, left, top+len(bars)*groupH-gap+4)
	if len(series) > 1 {
		ly := top + len(bars)*groupH + 8
		x := left
		for j, name := range series {
			fmt.Fprintf(&s, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", x, ly, palette[j%len(palette)], x+16, ly+10, html.EscapeString(name))
			x += 90
		}
	}
	s.WriteString("</svg>\n")
	return s.String()
}

// chartFor charts the scenario's throughput-like figure per server.
func chartFor(sr *ScenarioResult, med map[string]Figures) string {
	col := Column{Key: sr.Chart, Label: sr.Chart}
	for _, c := range sr.Columns {
		if c.Key == sr.Chart {
			col = c
		}
	}
	var bars []bar
	for _, row := range sr.Rows {
		if v, ok := med[row.Label()][col.Key]; ok {
			bars = append(bars, bar{label: row.Label(), values: []float64{v}})
		}
	}
	unit := col.Label
	if col.LowerBetter {
		unit += " (lower is better)"
	} else {
		unit += " (higher is better)"
	}
	return hbarSVG(sr.Title, unit, []string{col.Label}, bars, col.Digits)
}

// latencyChart draws p50/p99/max per server for a fan-out scenario.
func latencyChart(sr *ScenarioResult, med map[string]Figures) string {
	var bars []bar
	for _, row := range sr.Rows {
		f, ok := med[row.Label()]
		if !ok {
			continue
		}
		bars = append(bars, bar{label: row.Label(), values: []float64{f["p50"], f["p99"], f["max"]}})
	}
	return hbarSVG(sr.Title+": delivery latency", "µs (lower is better)", []string{"p50", "p99", "max"}, bars, 0)
}
