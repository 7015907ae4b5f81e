package handlers_test

import (
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"provisioning/app"
	"provisioning/app/apptest"
	"provisioning/handlers"
)

func limitedConfig(t *testing.T) app.Config {
	cfg := apptest.Config(t)
	cfg.RateLimits = handlers.RateLimits{
		Auth:    handlers.Limit{Requests: 5, Window: time.Minute},
		Token:   handlers.Limit{Requests: 5, Window: time.Minute},
		General: handlers.Limit{Requests: 10, Window: time.Minute},
		Batch:   handlers.Limit{Requests: 2, Window: time.Minute},
	}
	// Tests stand behind a "proxy" on loopback to pose as many clients.
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	return cfg
}

func login(t *testing.T, c *apptest.Client, from string) apptest.Response {
	t.Helper()
	return c.Do(t, "POST", "/auth/login", map[string]string{"username": "admin", "password": "wrong-password-123"}, "X-Forwarded-For", from)
}

func TestSixthLoginFromOneIPIsRefused(t *testing.T) {
	t.Parallel()
	in := apptest.Start(t, limitedConfig(t))
	cc := apptest.NewClient(in.ControlURL())
	for i := 1; i <= 5; i++ {
		res := login(t, cc, "203.0.113.7")
		if res.Status != 401 || res.Header.Get("X-RateLimit-Limit") != "5" || res.Header.Get("X-RateLimit-Remaining") != strconv.Itoa(5-i) || res.Header.Get("X-RateLimit-Reset") == "" {
			t.Fatalf("login %d: %d %v", i, res.Status, res.Header)
		}
	}
	res := login(t, cc, "203.0.113.7")
	if res.Status != 429 || res.Success || !strings.Contains(res.Error, "rate limit") {
		t.Fatalf("6th login: %d %s", res.Status, res.Raw)
	}
	if res.Header.Get("Retry-After") == "" || res.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("6th login headers %v", res.Header)
	}
	if other := login(t, cc, "203.0.113.8"); other.Status != 401 {
		t.Fatalf("another IP was limited too: %d", other.Status)
	}
	// Only trusted proxies may name the client: an untrusted peer's
	// X-Forwarded-For is ignored (here: the peer itself is the client).
	untrusted := apptest.Config(t)
	untrusted.RateLimits.Auth = handlers.Limit{Requests: 2, Window: time.Minute}
	in2 := apptest.Start(t, untrusted)
	c2 := apptest.NewClient(in2.ControlURL())
	for i, ip := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
		res := login(t, c2, ip)
		if want := map[bool]int{true: 429, false: 401}[i == 2]; res.Status != want {
			t.Fatalf("spoofed login %d: %d, want %d (X-Forwarded-For must not pick the bucket)", i+1, res.Status, want)
		}
	}
}

func TestOneUsersFloodDoesNotLimitAnother(t *testing.T) {
	t.Parallel()
	cfg := limitedConfig(t)
	in, admin, control := apptest.StartAdmin(t, cfg)
	res := control.Do(t, "POST", "/users", map[string]any{"username": "bob", "email": "bob@example.com",
		"password": "bob-password-123", "roles": []string{"viewer"}, "enabled": true})
	if res.Status != http.StatusCreated {
		t.Fatalf("create bob: %d %s", res.Status, res.Raw)
	}
	bob := apptest.NewClient(in.OrchestratorURL()).WithToken(apptest.Login(t, in.ControlURL(), "bob", "bob-password-123"))
	limited := false
	for i := 0; i < 12 && !limited; i++ {
		limited = admin.Do(t, "GET", "/tasks", nil).Status == 429
	}
	if !limited {
		t.Fatal("admin was never limited at 10 requests a minute")
	}
	if res := bob.Do(t, "GET", "/tasks", nil); res.Status != 200 || res.Header.Get("X-RateLimit-Limit") != "10" {
		t.Fatalf("bob: %d %v", res.Status, res.Header)
	}
}

func TestTwoInstancesShareTheCount(t *testing.T) {
	t.Parallel()
	cfgA := limitedConfig(t)
	cfgA.NATSListen = "127.0.0.1:0"
	a := apptest.Start(t, cfgA)
	cfgB := limitedConfig(t)
	cfgB.NATSURL, cfgB.NATSNkey = a.NATSURL(), a.NATSKeyFile()
	b := apptest.Start(t, cfgB)
	ca, cb := apptest.NewClient(a.ControlURL()), apptest.NewClient(b.ControlURL())
	for i := 0; i < 5; i++ {
		c := ca
		if i%2 == 1 {
			c = cb
		}
		if res := login(t, c, "192.0.2.10"); res.Status != 401 {
			t.Fatalf("login %d: %d", i+1, res.Status)
		}
	}
	for _, c := range []*apptest.Client{ca, cb} {
		if res := login(t, c, "192.0.2.10"); res.Status != 429 {
			t.Fatalf("the 6th login across two instances: %d, want 429", res.Status)
		}
	}
}

func TestGuessingTokensIsLimited(t *testing.T) {
	t.Parallel()
	in := apptest.Start(t, limitedConfig(t))
	c := apptest.NewClient(in.OrchestratorURL()).WithToken("not-a-token")
	for i := 1; i <= 5; i++ {
		if res := c.Do(t, "GET", "/tasks", nil, "X-Forwarded-For", "203.0.113.99"); res.Status != 401 {
			t.Fatalf("guess %d: %d", i, res.Status)
		}
	}
	if res := c.Do(t, "GET", "/tasks", nil, "X-Forwarded-For", "203.0.113.99"); res.Status != 429 {
		t.Fatalf("6th guess: %d, want 429", res.Status)
	}
}

// Guessing tokens has a limit of its own: garbage tokens from one address
// do not spend that address's login budget, and the admin behind the same
// NAT still logs in.
func TestBadTokensDoNotSpendTheLoginBudget(t *testing.T) {
	t.Parallel()
	cfg := limitedConfig(t)
	cfg.RateLimits.Token = handlers.Limit{Requests: 8, Window: time.Minute}
	in := apptest.Start(t, cfg)
	orch := apptest.NewClient(in.OrchestratorURL()).WithoutCheck()
	const nat = "203.0.113.50"
	for i := 1; i <= 8; i++ {
		res := orch.Do(t, "GET", "/tasks", nil, "Authorization", "Bearer garbage-"+strconv.Itoa(i), "X-Forwarded-For", nat)
		if res.Status != 401 || res.Header.Get("X-RateLimit-Limit") != "8" {
			t.Fatalf("bad token %d: %d %v", i, res.Status, res.Header)
		}
	}
	if res := orch.Do(t, "GET", "/tasks", nil, "Authorization", "Bearer garbage-9", "X-Forwarded-For", nat); res.Status != 429 {
		t.Fatalf("the 9th bad token: %d, want 429", res.Status)
	}
	res := apptest.NewClient(in.ControlURL()).Do(t, "POST", "/auth/login",
		map[string]string{"username": "admin", "password": apptest.AdminPassword}, "X-Forwarded-For", nat)
	if res.Status != 200 {
		t.Fatalf("the admin's login after token guessing from the same address: %d %s", res.Status, res.Raw)
	}
}

// Wrong passwords for one account, spread over many addresses, lock that
// account's logins for a while (the right password too); an account that
// does not exist is locked the same way, with the same answers, so the
// lockout tells nothing about which accounts exist. Other accounts log in.
func TestFailedLoginsBackOffPerAccount(t *testing.T) {
	t.Parallel()
	cfg := limitedConfig(t)
	cfg.RateLimits.Account = handlers.Limit{Requests: 4, Window: time.Minute}
	// A clock that stands in the middle of a window: the sliding window
	// then counts every failure of the test fully.
	mid := time.Now().Truncate(time.Minute).Add(30 * time.Second)
	cfg.Clock = func() time.Time { return mid }
	in, _, control := apptest.StartAdmin(t, cfg)
	if res := control.Do(t, "POST", "/users", map[string]any{"username": "bob", "email": "bob@example.com",
		"password": "bob-password-123", "roles": []string{"viewer"}}); res.Status != http.StatusCreated {
		t.Fatalf("create bob: %d %s", res.Status, res.Raw)
	}
	cc := apptest.NewClient(in.ControlURL())
	try := func(user, password string, from int) apptest.Response {
		return cc.Do(t, "POST", "/auth/login", map[string]string{"username": user, "password": password},
			"X-Forwarded-For", "198.51.100."+strconv.Itoa(from))
	}
	answers := map[string][]string{}
	for _, user := range []string{"admin", "no-such-user"} {
		for i := 0; i < 6; i++ {
			res := try(user, "wrong-password-123", 10+i) // a new address each time
			// The seconds to wait may differ by one between the two.
			answers[user] = append(answers[user], strconv.Itoa(res.Status)+" "+regexp.MustCompile(`[0-9]+ seconds`).ReplaceAllString(res.Error, "N seconds"))
		}
	}
	for i := range answers["admin"] {
		want := "401"
		if i >= 4 {
			want = "429"
		}
		if !strings.HasPrefix(answers["admin"][i], want) {
			t.Fatalf("attempt %d on admin: %s, want %s", i+1, answers["admin"][i], want)
		}
		if answers["admin"][i] != answers["no-such-user"][i] {
			t.Fatalf("attempt %d: admin got %q, a user that does not exist %q", i+1, answers["admin"][i], answers["no-such-user"][i])
		}
	}
	if res := try("admin", apptest.AdminPassword, 99); res.Status != 429 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("the right password during the lockout: %d %v", res.Status, res.Header)
	}
	if res := try("bob", "bob-password-123", 98); res.Status != 200 {
		t.Fatalf("another account during the admin's lockout: %d %s", res.Status, res.Raw)
	}
}

// When two limits count a request (a batch submission counts against the
// general limit and the batch limit), the X-RateLimit-* headers describe
// the tighter one: the limit that will refuse first.
func TestRateLimitHeadersDescribeTheTightestLimit(t *testing.T) {
	t.Parallel()
	cfg := limitedConfig(t) // general 10/min, batch 2/min per user
	_, admin, _ := apptest.StartAdmin(t, cfg)
	body := map[string]any{"name": "tight", "operations": []map[string]any{{"id": "a", "type": "cluster_batch", "clusters": []string{"c"}}}}
	for i, want := range []string{"1", "0"} {
		res := admin.Do(t, "POST", "/batch/execute", body)
		if res.Status != 200 || res.Header.Get("X-RateLimit-Limit") != "2" || res.Header.Get("X-RateLimit-Remaining") != want {
			t.Fatalf("batch %d: %d, X-RateLimit-Limit %q Remaining %q, want 2 and %s", i+1, res.Status,
				res.Header.Get("X-RateLimit-Limit"), res.Header.Get("X-RateLimit-Remaining"), want)
		}
	}
	res := admin.Do(t, "POST", "/batch/execute", body)
	if res.Status != 429 || res.Header.Get("X-RateLimit-Limit") != "2" || !strings.Contains(res.Error, "at most 2") {
		t.Fatalf("3rd batch: %d %v %s", res.Status, res.Header, res.Raw)
	}
	// A plain read counts against the general limit only.
	if res := admin.Do(t, "GET", "/tasks", nil); res.Header.Get("X-RateLimit-Limit") != "10" {
		t.Fatalf("a read: X-RateLimit-Limit %q, want 10", res.Header.Get("X-RateLimit-Limit"))
	}
}
