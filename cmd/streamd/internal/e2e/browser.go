package e2e

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumCandidates are tried in order when STREAMD_CHROMIUM is unset.
var chromiumCandidates = []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "headless-shell"}

// ChromiumPath returns the browser to drive: $STREAMD_CHROMIUM, else the
// first of the usual names found, else "".
func ChromiumPath() string {
	if p := os.Getenv("STREAMD_CHROMIUM"); p != "" {
		return p
	}
	for _, c := range chromiumCandidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	return ""
}

// NewBrowser starts a headless Chromium with a fresh profile for t and
// returns the context of its first tab; extra options (flags) are added
// to the usual ones. The browser stops when t ends (its goroutines and
// process are gone before the cleanup returns, so goleak stays quiet).
// Without a browser it skips t, or fails it under CI=true.
func NewBrowser(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := ChromiumPath()
	if path == "" {
		Missing(t, "chromium is not installed (apt-get install chromium, or set STREAMD_CHROMIUM)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Background tabs must keep their timers and EventSource running.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	opts = append(opts, extra...)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancel()
		acancel() // waits for the browser process to exit
	})
	// Start the browser now, on a context without a deadline: the first
	// Run binds the browser's life to its context.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// NewTab opens another tab in the browser of ctx; it closes when t ends.
func NewTab(t testing.TB, ctx context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return tab
}

// Run runs actions on the tab of ctx with a deadline of d.
func Run(t testing.TB, ctx context.Context, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(tctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// Eval evaluates a JavaScript expression on the tab of ctx and decodes
// its value into T.
func Eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluating %q: %v", expr, err)
	}
	return v
}

// WaitJS polls a JavaScript predicate on the tab of ctx every 50 ms until
// it is truthy, failing t after d. what describes the condition.
func WaitJS(t testing.TB, ctx context.Context, d time.Duration, what, predicate string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, d+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(tctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(d)))
	if err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, predicate, err)
	}
}

// TrustSPKI is the option that makes the browser accept a server
// certificate with this public key (base64 of the SHA-256 of its
// SubjectPublicKeyInfo, testcert.Cert.SPKIHash) for the run, whoever
// signed it: how a test serves the pages over HTTPS with a throwaway CA.
func TrustSPKI(hash string) chromedp.ExecAllocatorOption {
	return chromedp.Flag("ignore-certificate-errors-spki-list", hash)
}
