package wsframe

import (
	"math/rand/v2"
	"sort"
	"testing"
	"unicode/utf8"
)

// validPrefix reports whether p can be completed to valid UTF-8: whether p,
// or p followed by 1 to 3 continuation bytes, passes utf8.Valid. 0x80, 0x90
// and 0xa0 stand for every range a rune's second byte may be limited to
// (RFC 3629, Section 4), so trying them is enough. It is a reference for
// UTF8Validator built on the standard library alone.
func validPrefix(p []byte) bool {
	if utf8.Valid(p) {
		return true
	}
	conts := []byte{0x80, 0x90, 0xa0}
	q := make([]byte, len(p), len(p)+3)
	copy(q, p)
	for _, a := range conts {
		for _, b := range conts {
			for _, c := range conts {
				if utf8.Valid(append(q, a)) || utf8.Valid(append(q, a, b)) || utf8.Valid(append(q, a, b, c)) {
					return true
				}
			}
		}
	}
	return false
}

// firstInvalid returns the index of the byte at which b stops being a
// prefix of valid UTF-8, or len(b) if it never does (b may still end
// mid-rune). Prefix validity is monotone, hence the binary search.
func firstInvalid(b []byte) int {
	return sort.Search(len(b), func(i int) bool { return !validPrefix(b[:i+1]) })
}

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

// TestUTF8ValidatorFirstInvalid checks that the validator rejects a stream
// at exactly the byte where it stops being a prefix of valid UTF-8 (what
// lets the decoder fail a text frame before its end), and not earlier.
func TestUTF8ValidatorFirstInvalid(t *testing.T) {
	for _, s := range append(append([]string{}, classicInvalid...), classicValid...) {
		for _, wrapped := range []string{s, "κόσμε" + s + "edited"} {
			b := []byte(wrapped)
			bad := firstInvalid(b)
			var v UTF8Validator
			for i := range b {
				if got, want := v.Write(b[i:i+1]), i < bad; got != want {
					t.Errorf("%q byte by byte: Write(b[%d]) = %v; want %v (first invalid byte at %d)", b, i, got, want, bad)
					break
				}
			}
		}
	}
}
