// Package e2e holds helpers for end-to-end tests with real third-party
// clients: headless Chromium driven over the DevTools protocol
// (chromedp), and Node scripts using the npm eventsource and ws packages
// (in the node/ folder beside this file).
//
// A missing client skips the test with a message saying what to install,
// except when CI=true: then it fails, so CI never passes by skipping.
//
// # Concurrency
//
// The helpers are called from the test goroutine. A browser context from
// NewBrowser or NewTab drives one tab: use one per goroutine.
package e2e

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Missing skips t, or fails it when the CI environment variable is
// "true", because a client the test needs is not installed.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (required when CI=true)", what)
	}
	t.Skipf("skipping: %s", what)
}

// Dir returns the directory of this package's source (cmd/streamd/internal/e2e).
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("BUG: e2e: no caller information")
	}
	return filepath.Dir(file)
}
