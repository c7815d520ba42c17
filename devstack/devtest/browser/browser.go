// Package browser starts the headless Chromium the browser tests drive. It
// is a package of its own so that only those tests link the driver.
package browser

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// DefaultPath is Debian's Chromium, which scripts/test installs.
const DefaultPath = "/usr/bin/chromium"

// MustChromium returns a headless Chromium context whose work must end
// within timeout, failing (never skipping) when the browser is not installed
// ($FIELDSYNC_TEST_CHROMIUM overrides DefaultPath). extra adds allocator
// options (window size, language). The browser is closed at the test's end.
func MustChromium(tb testing.TB, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	tb.Helper()
	path := os.Getenv("FIELDSYNC_TEST_CHROMIUM")
	if path == "" {
		path = DefaultPath
	}
	if _, err := exec.LookPath(path); err != nil {
		tb.Fatalf("browser tests need Chromium at %s (%v): run `apt-get install -y chromium` (./scripts/test does), or set FIELDSYNC_TEST_CHROMIUM", path, err)
	}
	// The flags the closed network here needs: without the background ones
	// Chromium's own connections are refused, many at a time.
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(tb.TempDir()),
	}, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil { // start the browser without a deadline
		cancel()
		cancelAlloc()
		tb.Fatalf("starting Chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	tb.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}
