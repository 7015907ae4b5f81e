package handlers_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"provisioning/app"
)

// closedWith reads from c until the server closes it, and returns the
// close status and reason (failing the test when it stays open).
func closedWith(t *testing.T, c *websocket.Conn, within time.Duration) (websocket.StatusCode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			t.Fatalf("the WebSocket stayed open for %s", within)
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Reason
		}
		t.Fatalf("the WebSocket ended without a close frame: %v", err)
		return 0, ""
	}
}

// A WebSocket lives as long as its token: logging out, disabling or
// deleting its user, and reaching the token's exp close it with 1008
// (policy violation) and a reason saying which.
func TestWebSocketEndsWithItsToken(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	cases := []struct {
		name   string
		end    func(t *testing.T, userID, token string)
		reason string
	}{
		{"logout", func(t *testing.T, _, token string) {
			_, cc := in.as(token)
			wantStatus(t, cc.Do(t, "POST", "/auth/logout", nil), http.StatusOK, "")
		}, "revoked"},
		{"disabled", func(t *testing.T, id, _ string) {
			wantStatus(t, in.cc.Do(t, "PUT", "/users/"+id, map[string]any{"enabled": false}), http.StatusOK, "")
		}, "disabled"},
		{"deleted", func(t *testing.T, id, _ string) {
			wantStatus(t, in.cc.Do(t, "DELETE", "/users/"+id, nil), http.StatusOK, "")
		}, "no longer exists"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := in.createUser(t, "ws-"+tc.name, "viewer")
			token := in.login(t, "ws-"+tc.name)
			c := dialWS(t, strings.Replace(in.OrchestratorURL(), "http://", "ws://", 1)+"/ws?token="+token, nil)
			tc.end(t, id, token)
			code, reason := closedWith(t, c, 10*time.Second)
			if code != websocket.StatusPolicyViolation || !strings.Contains(reason, tc.reason) {
				t.Fatalf("closed with %d %q, want 1008 mentioning %q", code, reason, tc.reason)
			}
		})
	}
}

func TestWebSocketEndsAtTheTokensExpiry(t *testing.T) {
	t.Parallel()
	// The instance's clock is the test's: the token expires when the
	// test says, however slow the machine.
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	in := startInstance(t, func(c *app.Config) { c.TokenTTL = time.Hour; c.Clock = clock })
	in.createUser(t, "brief", "viewer")
	token := in.login(t, "brief")
	c := dialWS(t, strings.Replace(in.OrchestratorURL(), "http://", "ws://", 1)+"/ws?token="+token, nil)
	offset.Store(int64(time.Hour + time.Minute))
	code, reason := closedWith(t, c, 10*time.Second)
	if code != websocket.StatusPolicyViolation || !strings.Contains(reason, "expired") {
		t.Fatalf("closed with %d %q, want 1008 mentioning expired", code, reason)
	}
}
