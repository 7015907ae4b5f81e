package handlers_test

import (
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"provisioning/app"
	"provisioning/app/apptest"
)

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// midStep is a time in the middle of the current 30-second TOTP step: an
// instance whose clock stands still there accepts the codes of the steps
// around it for the whole test.
func midStep() time.Time {
	return time.Unix(time.Now().Unix()/30*30+15, 0)
}

func loginWith(t *testing.T, in instance, username, mfa string) apptest.Response {
	t.Helper()
	body := map[string]any{"username": username, "password": userPassword}
	if mfa != "" {
		body["mfa_code"] = mfa
	}
	return in.anon().Do(t, "POST", "/auth/login", body)
}

func TestMFAEnrolVerifyLogin(t *testing.T) {
	t.Parallel()
	now := midStep()
	in := startInstance(t, func(c *app.Config) { c.Clock = func() time.Time { return now } })
	id := in.createUser(t, "mia", "viewer")
	other := in.createUser(t, "max", "viewer")
	_, cc := in.as(in.login(t, "mia"))

	wantStatus(t, cc.Do(t, "POST", "/users/"+other+"/mfa", nil), 403, "permission denied")
	wantStatus(t, cc.Do(t, "POST", "/users/"+id+"/mfa/verify", map[string]any{"code": "123456"}), 409, "no MFA enrolment is pending")
	res := cc.Do(t, "POST", "/users/"+id+"/mfa", nil)
	wantStatus(t, res, 200, `"otpauth_url":"otpauth://totp/provisioning:mia?`)
	var enrol struct {
		Secret     string `json:"secret"`
		OTPAuthURL string `json:"otpauth_url"`
	}
	res.Decode(t, &enrol)
	if len(enrol.Secret) < 16 {
		t.Fatalf("secret %q", enrol.Secret)
	}
	// Until verified, logins need no code.
	wantStatus(t, loginWith(t, in, "mia", ""), 200, "token")

	wantStatus(t, cc.Do(t, "POST", "/users/"+id+"/mfa/verify", map[string]any{"code": "12345"}), 422, "code")
	wrong := code(t, enrol.Secret, now.Add(-10*time.Minute))
	wantStatus(t, cc.Do(t, "POST", "/users/"+id+"/mfa/verify", map[string]any{"code": wrong}), 422, "does not match")
	current := code(t, enrol.Secret, now)
	wantStatus(t, cc.Do(t, "POST", "/users/"+id+"/mfa/verify", map[string]any{"code": current}), 200, "MFA enabled")
	wantStatus(t, cc.Do(t, "POST", "/users/"+id+"/mfa", nil), 409, "already enabled")
	wantStatus(t, in.cc.Do(t, "GET", "/users/"+id, nil), 200, `"mfa_enabled":true`)

	wantStatus(t, loginWith(t, in, "mia", ""), 401, "invalid username, password or MFA code")
	wantStatus(t, loginWith(t, in, "mia", wrong), 401, "invalid username, password or MFA code")
	// The code that verified the enrolment is spent.
	wantStatus(t, loginWith(t, in, "mia", current), 401, "")
	next := code(t, enrol.Secret, now.Add(30*time.Second))
	wantStatus(t, loginWith(t, in, "mia", next), 200, "token")
	wantStatus(t, loginWith(t, in, "mia", next), 401, "")

	// Two logins with one fresh code at once: exactly one gets in.
	previous := code(t, enrol.Secret, now.Add(-30*time.Second))
	if previous == current || previous == next {
		t.Skip("the TOTP codes of neighbouring steps coincide")
	}
	statuses := make([]int, 4)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = loginWith(t, in, "mia", previous).Status
		}()
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		if s == 200 {
			ok++
		} else if s != 401 {
			t.Fatalf("statuses %v", statuses)
		}
	}
	if ok != 1 {
		t.Fatalf("statuses %v: %d logins with one code, want 1", statuses, ok)
	}
	logs := in.cc.Do(t, "GET", "/audit/logs?action=auth.login&user_id="+id, nil)
	wantStatus(t, logs, 200, `"reason":"MFA code replayed"`)
	wantStatus(t, logs, 200, `"reason":"MFA code missing"`)
}
