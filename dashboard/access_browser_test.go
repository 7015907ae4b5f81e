package dashboard_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"provisioning/app/apptest"
)

const userPassword = "a-long-user-password"

// createUser makes a user with roles through the control center.
func createUser(t *testing.T, control *apptest.Client, name string, roles ...string) string {
	t.Helper()
	return apptest.CreateUser(t, control, name, userPassword, roles...)
}

func TestSignInWithoutMFA(t *testing.T) {
	in, _, _ := apptest.StartAdmin(t, apptest.Config(t))
	p := openPage(t, in)
	// Unsigned, every page leads to the sign-in.
	p.open("/tasks")
	p.until(`location.pathname === '/ui/login' && location.search.includes('next')`, "the sign-in page")
	// A wrong password is refused with the API's message, and nothing else.
	p.fill("#login [name=username]", "admin")
	p.fill("#login [name=password]", "not-the-password")
	p.click("#login button[type=submit]")
	p.until(`document.querySelector('#login .notice') && document.querySelector('#login .notice').innerText.includes('invalid username, password or MFA code')`, "the refusal")
	p.fill("#login [name=password]", apptest.AdminPassword)
	p.click("#login button[type=submit]")
	// It returns to the page it was sent away from, signed in and live.
	p.until(`location.pathname === '/ui/tasks' && document.querySelector('#task-results').dataset.state === 'ready'`, "the tasks page")
	p.liveNow()
	if got := p.eval(`sessionStorage.length + ':' + localStorage.length + ':' + document.cookie.length`); got != "1:0:0" {
		t.Errorf("storage (session:local:cookie) = %s, want the token in sessionStorage only", got)
	}
	p.open("/")
	p.until(`document.querySelector('#health') && document.querySelector('#health').innerText.includes('storage')`, "the health table")
	for _, want := range []string{"Overview", "Tasks", "Batches", "Submit", "Recovery", "Webhooks", "Users", "Policies", "Audit log"} {
		if !strings.Contains(p.text("#nav"), want) {
			t.Errorf("admin's navigation lacks %s: %s", want, p.text("#nav"))
		}
	}
	p.shot("overview")

	// Signing out revokes the token: it no longer works on the API.
	token := p.eval(`JSON.parse(sessionStorage.getItem('provisioning.session')).token`)
	p.click("#account button")
	p.until(`location.pathname === '/ui/login' && sessionStorage.length === 0`, "the signed-out page")
	res := apptest.NewClient(in.OrchestratorURL()).WithToken(token).Do(t, http.MethodGet, "/tasks", nil)
	if res.Status != http.StatusUnauthorized {
		t.Fatalf("the signed-out token still works: %d", res.Status)
	}
}

// midStep is the middle of the current TOTP step: an instance whose clock
// stands there accepts the codes of the steps on either side all test long.
func midStep() time.Time { return time.Unix(time.Now().Unix()/30*30+15, 0) }

func TestSignInWithMFA(t *testing.T) {
	now := midStep()
	cfg := apptest.Config(t)
	cfg.Clock = func() time.Time { return now }
	in, _, control := apptest.StartAdmin(t, cfg)
	createUser(t, control, "mia", "operator")
	p := openPage(t, in)
	p.signIn("mia", userPassword, "")
	p.open("/account")
	p.click("#mfa-start")
	// The enrolment shows a QR code and the secret to type in.
	p.visible("#mfa-qr")
	if modules := p.eval(`document.getElementById('mfa-qr').dataset.modules`); modules < "2" {
		t.Fatalf("QR code modules %q", modules)
	}
	secret := p.text("#mfa-secret")
	code, err := totp.GenerateCode(secret, now)
	if err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	p.fill("#mfa-verify [name=code]", code)
	p.click("#mfa-verify button[type=submit]")
	p.until(`document.getElementById('mfa-state') && document.getElementById('mfa-state').dataset.state === 'on'`, "MFA on")

	p.click("#account button")
	p.until(`location.pathname === '/ui/login'`, "the sign-in page")
	// Without the code the login is refused; with the next step's code it
	// goes through (the one that verified is spent).
	p.fill("#login [name=username]", "mia")
	p.fill("#login [name=password]", userPassword)
	p.click("#login button[type=submit]")
	p.until(`!!document.querySelector('#login .notice')`, "the refusal without a code")
	next, err := totp.GenerateCode(secret, now.Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	p.signIn("mia", userPassword, next)
	if !strings.Contains(p.text("#account"), "mia") {
		t.Fatalf("signed in as %q", p.text("#account"))
	}
}

func TestViewerSeesNoAdminPages(t *testing.T) {
	in, orch, control := apptest.StartAdmin(t, apptest.Config(t))
	createUser(t, control, "vera", "viewer")
	res := orch.Do(t, http.MethodPost, "/workflows/servers/create", map[string]any{"infra": "production"})
	if res.Status != http.StatusOK {
		t.Fatalf("submit: %d %s", res.Status, res.Raw)
	}
	var taskID string
	res.Decode(t, &taskID)
	p := openPage(t, in)
	p.signIn("vera", userPassword, "")
	nav := p.text("#nav")
	for _, absent := range []string{"Submit", "Users", "Policies", "Audit log"} {
		if strings.Contains(nav, absent) {
			t.Errorf("a viewer's navigation offers %s: %q", absent, nav)
		}
	}
	for _, present := range []string{"Overview", "Tasks", "Batches"} {
		if !strings.Contains(nav, present) {
			t.Errorf("a viewer's navigation lacks %s: %q", present, nav)
		}
	}
	for _, path := range []string{"/users", "/policies", "/audit", "/submit"} {
		p.open(path)
		p.until(`document.querySelector('main h1') && document.querySelector('main h1').innerText === 'Not permitted'`, path+" refused")
	}
	// Read-only pages offer no action.
	p.open("/tasks/" + taskID)
	p.until(`document.querySelector('main h1') && document.querySelector('main h1').innerText.startsWith('Task')`, "the task page")
	p.until(`document.querySelector('#t-hist') && document.querySelector('#t-hist').parentElement.innerText.includes('audit permission')`, "the history notice")
	if p.eval(`String(!!document.getElementById('cancel-task'))`) != "false" {
		t.Error("a viewer is offered to cancel a task")
	}
	p.open("/recovery")
	p.until(`!!document.querySelector('#r-cps')`, "the recovery page")
	if p.eval(`String(!!document.querySelector('#checkpoint-form, [data-action=rollback], [data-action=restore], #rollback-ops-form'))`) != "false" {
		t.Error("a viewer is offered a checkpoint, rollback or restore")
	}
	// The API refuses what the page does not offer.
	token := p.eval(`JSON.parse(sessionStorage.getItem('provisioning.session')).token`)
	refused := apptest.NewClient(in.OrchestratorURL()).WithToken(token).Do(t, http.MethodPost, "/tasks/"+taskID+"/cancel", nil)
	if refused.Status != http.StatusForbidden {
		t.Fatalf("a viewer's cancel: %d", refused.Status)
	}
}

// A condition the server cannot compile comes back under that condition,
// with the compiler's message; a good one saves.
func TestPolicyEditorShowsTheServersCELError(t *testing.T) {
	in, _, _ := apptest.StartAdmin(t, apptest.Config(t))
	p := openPage(t, in)
	p.signIn("admin", apptest.AdminPassword, "")
	p.open("/policies")
	p.click("#policy-new")
	p.fill("#policy-form [name=name]", "no-night-cancels")
	p.setValue(`#policy-form [name="rules[0].condition"]`, "user.role == ")
	p.click("#policy-form button[type=submit]")
	p.until(`document.querySelector('#policy-form [name="rules[0].condition"]').getAttribute('aria-invalid') === 'true'`, "the condition marked")
	if msg := p.text(`#policy-form .rule .field-error:not(:empty)`); !strings.Contains(msg, "Syntax error") {
		t.Fatalf("the condition's error %q does not quote the compiler", msg)
	}
	p.setValue(`#policy-form [name="rules[0].condition"]`, `user.username == "nobody"`)
	p.click("#policy-form button[type=submit]")
	p.until(`!!document.querySelector('#policies tr[data-policy="no-night-cancels"]')`, "the saved policy listed")
}

// At 200 % zoom (half the CSS width, twice the pixels) the pages reflow:
// nothing makes the page scroll sideways (wide tables scroll in their own
// box), and the navigation stays reachable.
func TestReadableAtDoubleZoom(t *testing.T) {
	in, orch, _ := apptest.StartAdmin(t, apptest.Config(t))
	res := orch.Do(t, http.MethodPost, "/batch/execute", map[string]any{"name": "zoom", "operations": []map[string]any{
		{"id": "servers", "type": "server_batch", "server_configs": []map[string]string{{"name": "web-01"}}}}})
	if res.Status != http.StatusOK {
		t.Fatalf("submit: %d %s", res.Status, res.Raw)
	}
	var accepted struct {
		BatchID string `json:"batch_id"`
	}
	res.Decode(t, &accepted)
	p := openPage(t, in)
	p.do("zoom", chromedp.EmulateViewport(720, 500, chromedp.EmulateScale(2)))
	p.signIn("admin", apptest.AdminPassword, "")
	if got := p.eval(`innerWidth + 'x' + devicePixelRatio`); got != "720x2" {
		t.Fatalf("the viewport is %s, not 720 CSS pixels at 2x: the check below would prove nothing", got)
	}
	for path, ready := range map[string]string{
		"/":                            `!!document.querySelector('#health')`,
		"/tasks":                       `document.getElementById('task-results').dataset.state === 'ready'`,
		"/batches/" + accepted.BatchID: `document.querySelector('main').dataset.graph === 'ready'`,
		"/submit":                      `!!document.querySelector('#form-batch')`,
		"/recovery":                    `!!document.querySelector('#r-cps')`,
	} {
		p.open(path)
		p.until(ready, path)
		if w := p.eval(`document.documentElement.scrollWidth - document.documentElement.clientWidth`); w != "0" {
			p.shot("zoom-" + sanitize(path))
			t.Errorf("%s scrolls sideways by %s px at 200 %%", path, w)
		}
	}
	p.visible("#nav a[href='/ui/tasks']")
}

// A user changes their own password on their account page: a wrong
// current one is refused there; the right one ends every session, this
// page's included, and the new password signs in.
func TestChangeOwnPassword(t *testing.T) {
	in, _, control := apptest.StartAdmin(t, apptest.Config(t))
	createUser(t, control, "olga", "operator")
	p := openPage(t, in)
	p.signIn("olga", userPassword, "")
	p.open("/account")
	p.fill("#password-form [name=current_password]", "not-my-password")
	p.fill("#password-form [name=password]", "a-brand-new-password")
	p.click("#password-form button[type=submit]")
	p.until(`!!document.querySelector('#password-form .notice')`, "the refusal of a wrong current password")
	p.fill("#password-form [name=current_password]", userPassword)
	p.fill("#password-form [name=password]", "a-brand-new-password")
	p.click("#password-form button[type=submit]")
	p.until(`location.pathname === '/ui/login' && sessionStorage.length === 0`, "the page signed out")
	p.signIn("olga", "a-brand-new-password", "")
}
