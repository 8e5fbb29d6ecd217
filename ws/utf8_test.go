package ws

import (
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// validateSplit feeds s to a validator in the given pieces.
func validateSplit(s []byte, cuts []int) bool {
	var v UTF8Validator
	prev := 0
	for _, c := range cuts {
		if !v.Write(s[prev:c]) {
			return false
		}
		prev = c
	}
	return v.Write(s[prev:]) && v.Done()
}

// TestUTF8Validator checks the classic sequences whole, split at every
// byte, and byte by byte, against utf8.Valid.
func TestUTF8Validator(t *testing.T) {
	all := append(append([]string{}, classicInvalid...), classicValid...)
	for _, s := range all {
		for _, wrapped := range []string{s, "ascii " + s, s + " ascii", "αβγ" + s + "δ", "0123456789abcdef" + s} {
			b := []byte(wrapped)
			want := utf8.Valid(b)
			if got := validateSplit(b, nil); got != want {
				t.Errorf("Write(%q) = %v; want %v", b, got, want)
			}
			for i := 0; i <= len(b); i++ {
				if got := validateSplit(b, []int{i}); got != want {
					t.Errorf("Write(%q) split at %d = %v; want %v", b, i, got, want)
				}
			}
			var bytewise []int
			for i := 1; i < len(b); i++ {
				bytewise = append(bytewise, i)
			}
			if got := validateSplit(b, bytewise); got != want {
				t.Errorf("Write(%q) byte by byte = %v; want %v", b, got, want)
			}
		}
	}
}

func TestUTF8ValidatorRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	alphabet := []byte("a\x00\x7f\xc2\x80\xdf\xbf\xe0\xa0\xed\x9f\xf0\x90\xf4\x8f\xbf\xf5\xc0\xc1\xff")
	for range 20000 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			if rng.IntN(3) == 0 {
				b[i] = byte(rng.Uint32())
			} else {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		var cuts []int
		for i := 1; i < len(b); i++ {
			if rng.IntN(3) == 0 {
				cuts = append(cuts, i)
			}
		}
		if got, want := validateSplit(b, cuts), utf8.Valid(b); got != want {
			t.Fatalf("validate(%q, cuts %v) = %v; want %v", b, cuts, got, want)
		}
	}
}

func TestUTF8ValidatorSticky(t *testing.T) {
	var v UTF8Validator
	if v.Write([]byte{0xff}) || v.Write([]byte("ok")) || v.Done() {
		t.Fatal("validator recovered after invalid input")
	}
	v.Reset()
	if !v.Write([]byte("ok")) || !v.Done() {
		t.Fatal("validator not usable after Reset")
	}
	if !v.Write([]byte{0xe2, 0x82}) || v.Done() {
		t.Fatal("Done() true mid-rune")
	}
}
