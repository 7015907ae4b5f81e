// Package browser starts headless Chromium for the dashboard's browser
// tests and its benchmark, with the flags that keep it quiet on a closed
// network: no background connections, component updates, sync, QUIC or
// first-run work, a fresh profile each time.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/chromedp/chromedp"
)

// PathEnv names the Chromium binary when it is not chromium on PATH.
const PathEnv = "PROVISIONING_CHROMIUM"

// ErrMissing is returned when no Chromium is found.
var ErrMissing = errors.New("headless Chromium is needed and was not found: install it with `apt-get install -y chromium` (Debian), or name the binary in " + PathEnv)

// Find returns the Chromium binary to use.
func Find() (string, error) {
	if p := os.Getenv(PathEnv); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", PathEnv, p, err)
		}
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrMissing
}

// Browser is one running Chromium; New opens tabs in it.
type Browser struct {
	// root is the first tab: it owns the browser process (cancelling it
	// closes the browser), and new tabs are made from it.
	root    context.Context
	cancel  func()
	profile string
}

// Start starts Chromium with a fresh profile. Close stops it and removes
// the profile.
func Start(ctx context.Context) (*Browser, error) {
	path, err := Find()
	if err != nil {
		return nil, err
	}
	profile, err := os.MkdirTemp("", "provisioning-chromium-")
	if err != nil {
		return nil, err
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1440, 1000),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.WithoutCancel(ctx), opts...)
	root, cancelRoot := chromedp.NewContext(alloc)
	b := &Browser{root: root, cancel: func() { cancelRoot(); cancelAlloc() }, profile: profile}
	// Start the process now, so that a broken install fails here.
	if err := chromedp.Do(root, chromedp.Navigate("about:blank")); err != nil {
		b.Close()
		return nil, fmt.Errorf("start chromium (%s): %w", path, err)
	}
	return b, nil
}

// Tab opens a tab in a browser context of its own (its own storage and
// cookies): tabs of one browser do not share a session. Cancel closes it.
func (b *Browser) Tab() (context.Context, context.CancelFunc, error) {
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	// Attach to the tab before the first action: a tab whose first action
	// is a navigation answers no evaluation after it (chromedp v0.23.1).
	if err := chromedp.Listen(ctx, func(any) {}); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("open a tab: %w", err)
	}
	return ctx, cancel, nil
}

// Close stops Chromium and removes its profile.
func (b *Browser) Close() {
	b.cancel()
	os.RemoveAll(b.profile)
}
