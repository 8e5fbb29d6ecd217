package main

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// count must find every request end however the plaintext is split into
// records: whole, byte at a time, and at random places.
func TestCountSplits(t *testing.T) {
	req := "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct {
		name string
		in   string
		want int
	}{
		{"one", req, 1},
		{"sixteen", strings.Repeat(req, 16), 16},
		{"partial tail", strings.Repeat(req, 3) + "GET /hello HTTP/1.1\r\n\r", 3},
		{"bare ends", "\r\n\r\n\r\n\r\n", 2},
		{"no end", "GET / HTTP/1.1\r\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			splits := map[string][][]byte{"whole": {[]byte(tt.in)}}
			var bytewise [][]byte
			for i := range len(tt.in) {
				bytewise = append(bytewise, []byte(tt.in[i:i+1]))
			}
			splits["byte at a time"] = bytewise
			r := rand.New(rand.NewPCG(1, 2))
			for k := range 50 {
				var parts [][]byte
				for rest := tt.in; len(rest) > 0; {
					n := 1 + r.IntN(len(rest))
					parts = append(parts, []byte(rest[:n]))
					rest = rest[n:]
				}
				splits["random "+string(rune('a'+k%26))+strings.Repeat("'", k/26)] = parts
			}
			for name, parts := range splits {
				st := &connState{tail: make([]byte, 0, 8)}
				got := 0
				for _, p := range parts {
					got += st.count(p)
				}
				if got != tt.want {
					t.Errorf("%s: count(%q) = %d; want %d", name, tt.in, got, tt.want)
				}
			}
		})
	}
}
