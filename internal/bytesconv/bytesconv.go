// Package bytesconv holds streamd's only conversions between []byte and
// string without a copy.
//
// # Lifetime rule
//
// The result aliases its argument: it is valid only while the argument's
// bytes are neither modified nor reused. Pass it to a callee that does not
// keep it (a comparison, a lookup, an append into another buffer), and
// never store it, return it to a caller, or let it escape into a map or a
// goroutine. Request fields are views into the loop's input, which is
// reused after the handler returns: a string made here from one must not
// outlive the handler. When in doubt, copy (string(b)).
package bytesconv

import "unsafe"

// String views b as a string without copying; see the package's lifetime
// rule.
func String(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
