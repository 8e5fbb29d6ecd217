package bytesconv

import "testing"

func TestString(t *testing.T) {
	for _, in := range []string{"", "a", "hello, world"} {
		if got := String([]byte(in)); got != in {
			t.Errorf("String(%q) = %q", in, got)
		}
	}
	b := []byte("abc")
	s := String(b)
	b[0] = 'x' // the documented aliasing: the view sees the change
	if s != "xbc" {
		t.Errorf("String does not alias its argument: %q", s)
	}
}

func TestStringAllocs(t *testing.T) {
	b := []byte("no copy")
	if n := testing.AllocsPerRun(100, func() { _ = String(b) }); n != 0 {
		t.Errorf("String allocates %v times; want 0", n)
	}
}
