package dashboard_test

// The browser tests drive headless Chromium (package browser) against real
// instances (app/apptest): the page signs in, calls both APIs and follows
// the WebSocket exactly as an operator's browser does. They never skip in
// CI: without Chromium they fail, saying how to install it, unless a
// developer sets PROVISIONING_SKIP_BROWSER_TESTS=1.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"provisioning/app"
	"provisioning/app/apptest"
	"provisioning/dashboard/browser"
)

// skipEnv lets a developer without Chromium skip the browser tests. CI
// never sets it.
const skipEnv = "PROVISIONING_SKIP_BROWSER_TESTS"

// shotsEnv names the directory the tests save their screenshots in
// (default: a temporary directory, printed by the first test that saves).
const shotsEnv = "PROVISIONING_SCREENSHOTS"

func TestMain(m *testing.M) {
	apptest.SimulatorMain()
	code := m.Run()
	if shared.b != nil {
		shared.b.Close()
	}
	apptest.RemoveBinary()
	os.Exit(code)
}

var shared struct {
	once sync.Once
	b    *browser.Browser
	err  error
	dir  string
}

// chromium returns the browser of the test process, started once.
func chromium(t *testing.T) *browser.Browser {
	t.Helper()
	if os.Getenv(skipEnv) == "1" {
		t.Skipf("%s=1: browser tests skipped (CI never sets it)", skipEnv)
	}
	shared.once.Do(func() { shared.b, shared.err = browser.Start(context.Background()) })
	if shared.err != nil {
		t.Fatalf("%v\n(a developer without Chromium may set %s=1 to skip these tests; CI runs them)", shared.err, skipEnv)
	}
	return shared.b
}

// wait is how long a page may take to reach a state.
const wait = 60 * time.Second

// page is one tab of the dashboard of an instance.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string // http://host:port of the control center

	mu       sync.Mutex
	problems []string
}

// openPage opens a tab on in's dashboard. Uncaught exceptions, console
// errors and Content-Security-Policy violations of the page fail the test.
func openPage(t *testing.T, in *app.Instance) *page {
	t.Helper()
	tab, cancel, err := chromium(t).Tab()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	p := &page{t: t, ctx: tab, base: strings.TrimSuffix(in.DashboardURL(), "/ui/")}
	if err := chromedp.Listen(tab, p.observe); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(tab, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{})
		return chromedp.Void{}, err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, pr := range p.problems {
			t.Errorf("the page reported: %s", pr)
		}
	})
	return p
}

func (p *page) observe(ev any) {
	var msg string
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg = "uncaught exception: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			msg += " " + e.ExceptionDetails.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.ConsoleAPICalledTypeError {
			return
		}
		var parts []string
		for _, a := range e.Args {
			parts = append(parts, string(a.Value)+a.Description)
		}
		msg = "console.error: " + strings.Join(parts, " ")
	case *cdplog.EventEntryAdded:
		// Answers the test provoked (a refused login, a 409) are logged as
		// failed loads; what matters is what the page did with them.
		if e.Entry.Level != cdplog.EntryLevelError || strings.Contains(e.Entry.Text, "Failed to load resource") ||
			strings.Contains(e.Entry.Text, "WebSocket connection to") {
			return
		}
		msg = "browser log: " + e.Entry.Text
	default:
		return
	}
	p.mu.Lock()
	p.problems = append(p.problems, msg)
	p.mu.Unlock()
}

// do runs actions, failing the test on error.
func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, wait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// open loads a path of the dashboard (a full page load).
func (p *page) open(path string) {
	p.t.Helper()
	p.do("open "+path, chromedp.Navigate(p.base+"/ui"+path))
}

// until waits for a JavaScript condition to hold.
func (p *page) until(cond, what string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, wait+5*time.Second)
	defer cancel()
	guarded := fmt.Sprintf(`(() => { try { return !!(%s); } catch (e) { return false; } })()`, cond)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](guarded, chromedp.WithPollingTimeout(wait), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		p.shot("failed-" + sanitize(p.t.Name()))
		p.t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, cond, err, p.eval("document.body.innerText"))
	}
}

// visible waits for an element to be shown.
func (p *page) visible(sel string) {
	p.t.Helper()
	p.until(fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.getClientRects().length > 0; })()`, sel), sel+" to show")
}

// click waits for an element and clicks it.
func (p *page) click(sel string) {
	p.t.Helper()
	p.visible(sel)
	p.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// fill types text into an input.
func (p *page) fill(sel, text string) {
	p.t.Helper()
	p.visible(sel)
	p.eval(fmt.Sprintf(`document.querySelector(%q).value = ''`, sel))
	p.do("fill "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// setValue sets a control's value at once (long text) and tells the page.
func (p *page) setValue(sel, text string) {
	p.t.Helper()
	p.visible(sel)
	js, _ := json.Marshal(text)
	p.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %s; e.dispatchEvent(new Event('input', {bubbles: true})); })()`, sel, js))
}

// confirmDialog confirms the open confirmation dialog and returns its text.
func (p *page) confirmDialog() string {
	p.t.Helper()
	p.visible("dialog[open] [data-confirm]")
	text := p.eval(`document.querySelector('dialog[open]').innerText`)
	p.do("confirm", chromedp.Click(chromedp.CSS("dialog[open] [data-confirm]")))
	return text
}

// eval runs JavaScript and returns its value as text.
func (p *page) eval(js string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, wait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[any](js))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", js, err)
	}
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// text is the visible text of an element.
func (p *page) text(sel string) string {
	p.t.Helper()
	p.visible(sel)
	return p.eval(fmt.Sprintf(`document.querySelector(%q).innerText`, sel))
}

// shot saves a screenshot of the whole page as name.png.
func (p *page) shot(name string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, wait)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(screenshotDir(p.t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	p.t.Logf("screenshot: %s", path)
	return path
}

var shotsOnce sync.Once

func screenshotDir(t *testing.T) string {
	shotsOnce.Do(func() {
		shared.dir = os.Getenv(shotsEnv)
		if shared.dir == "" {
			shared.dir, _ = os.MkdirTemp("", "provisioning-screenshots-")
		}
		_ = os.MkdirAll(shared.dir, 0o755)
	})
	return shared.dir
}

func sanitize(s string) string {
	return strings.NewReplacer("/", "-", " ", "-").Replace(s)
}

// signIn signs in on the sign-in page and waits for the navigation.
func (p *page) signIn(username, password, mfa string) {
	p.t.Helper()
	p.open("/login")
	p.fill("#login [name=username]", username)
	p.fill("#login [name=password]", password)
	if mfa != "" {
		p.fill("#login [name=mfa_code]", mfa)
	}
	p.click("#login button[type=submit]")
	p.until(`!!document.querySelector('#nav a') && !location.pathname.startsWith('/ui/login')`, "the signed-in navigation")
}

// liveNow waits for the page's WebSocket to be open.
func (p *page) liveNow() {
	p.t.Helper()
	p.until(`document.getElementById('live').dataset.state === 'live'`, "the live connection")
}

// keys sends one named key (ArrowDown, Enter, ...) to an element.
func keys(sel, key string) chromedp.Action[chromedp.Void] {
	named := map[string]string{"ArrowDown": kb.ArrowDown, "ArrowUp": kb.ArrowUp, "ArrowLeft": kb.ArrowLeft,
		"ArrowRight": kb.ArrowRight, "Enter": kb.Enter}
	return chromedp.SendKeys(chromedp.CSS(sel), named[key])
}
