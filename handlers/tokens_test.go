package handlers_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"provisioning/app"
	"provisioning/auth"
	"provisioning/events"
	"provisioning/events/eventstest"
)

// signingKey reads the instance's key from the event store, to forge
// tokens that differ from real ones in one respect only.
func signingKey(t *testing.T, in instance) events.SigningKeyCreatedData {
	t.Helper()
	last, err := in.Store().Last(context.Background(), events.AggSigningKey, events.PrimarySigningKey)
	if err != nil {
		t.Fatal(err)
	}
	var k events.SigningKeyCreatedData
	if err := last.Decode(&k); err != nil {
		t.Fatal(err)
	}
	return k
}

func forge(t *testing.T, method jwt.SigningMethod, claims jwt.MapClaims, kid string, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Every kind of bad token gets 401 on both APIs: forged, stale, revoked,
// or of a user who may no longer use it.
func TestBadTokensAreRefused(t *testing.T) {
	t.Parallel()
	in := startInstance(t)
	key := signingKey(t, in)
	priv, err := auth.OpenSigningKey(in.Secrets(), key)
	if err != nil {
		t.Fatal(err)
	}
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	victimID := in.createUser(t, "victim", "operator")
	now := time.Now()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": "provisioning", "sub": victimID, "jti": events.NewID(), "username": "victim",
			"roles": []string{"admin"}, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	control := forge(t, jwt.SigningMethodEdDSA, claims(nil), key.KeyID, priv)

	loggedOut := in.login(t, "victim")
	_, cc := in.as(loggedOut)
	wantStatus(t, cc.Do(t, "POST", "/auth/logout", nil), 200, "")
	refreshed := in.login(t, "victim")
	_, cc = in.as(refreshed)
	bad := cc.Do(t, "POST", "/auth/refresh", map[string]string{"token": "not-a-token"})
	if wantStatus(t, bad, 401, "not valid"); bad.Header.Get("WWW-Authenticate") == "" {
		t.Error("refresh of a bad token: a 401 without WWW-Authenticate")
	}
	wantStatus(t, cc.Do(t, "POST", "/auth/refresh", nil), 200, "")

	deletedID := in.createUser(t, "ghost", "admin")
	ofDeleted := in.login(t, "ghost")
	wantStatus(t, in.cc.Do(t, "DELETE", "/users/"+deletedID, nil), 200, "User deleted successfully")
	disabledID := in.createUser(t, "sleeper", "admin")
	ofDisabled := in.login(t, "sleeper")
	wantStatus(t, in.cc.Do(t, "PUT", "/users/"+disabledID, map[string]any{"enabled": false}), 200, "")
	reenabledID := in.createUser(t, "phoenix", "admin")
	beforeDisable := in.login(t, "phoenix")
	wantStatus(t, in.cc.Do(t, "PUT", "/users/"+reenabledID, map[string]any{"enabled": false}), 200, "")
	wantStatus(t, in.cc.Do(t, "PUT", "/users/"+reenabledID, map[string]any{"enabled": true}), 200, "")
	changedID := in.createUser(t, "changer", "viewer")
	beforeChange := in.login(t, "changer")
	wantStatus(t, in.cc.Do(t, "PUT", "/users/"+changedID, map[string]any{"password": "another long passphrase"}), 200, "")

	cases := []struct{ name, token string }{
		{"alg none", forge(t, jwt.SigningMethodNone, claims(nil), key.KeyID, jwt.UnsafeAllowNoneSignatureType)},
		{"HS256 signed with the public key", forge(t, jwt.SigningMethodHS256, claims(nil), key.KeyID, []byte(key.PublicKey))},
		{"HS256 signed with the JWK x", forge(t, jwt.SigningMethodHS256, claims(nil), key.KeyID, []byte(base64.RawURLEncoding.EncodeToString(key.PublicKey)))},
		{"wrong key", forge(t, jwt.SigningMethodEdDSA, claims(nil), key.KeyID, otherPriv)},
		{"expired", forge(t, jwt.SigningMethodEdDSA, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() }), key.KeyID, priv)},
		{"without expiry", forge(t, jwt.SigningMethodEdDSA, claims(func(c jwt.MapClaims) { delete(c, "exp") }), key.KeyID, priv)},
		{"not yet valid", forge(t, jwt.SigningMethodEdDSA, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() }), key.KeyID, priv)},
		{"wrong issuer", forge(t, jwt.SigningMethodEdDSA, claims(func(c jwt.MapClaims) { c["iss"] = "evil" }), key.KeyID, priv)},
		{"unknown user", forge(t, jwt.SigningMethodEdDSA, claims(func(c jwt.MapClaims) { c["sub"] = events.NewID() }), key.KeyID, priv)},
		{"revoked after logout", loggedOut},
		{"old token after refresh", refreshed},
		{"of a deleted user", ofDeleted},
		{"of a disabled user", ofDisabled},
		{"issued before a disable, user enabled again", beforeDisable},
		{"issued before a password change", beforeChange},
		{"garbage", "garbage"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			orch, cc := in.as(tc.token)
			for _, c := range []struct {
				api  string
				call func() (int, string)
			}{
				{"orchestrator", func() (int, string) {
					r := orch.Do(t, "GET", "/tasks", nil)
					return r.Status, r.Header.Get("WWW-Authenticate")
				}},
				{"control center", func() (int, string) {
					r := cc.Do(t, "GET", "/users", nil)
					return r.Status, r.Header.Get("WWW-Authenticate")
				}},
			} {
				if status, challenge := c.call(); status != 401 || challenge == "" {
					t.Errorf("%s: %d (WWW-Authenticate %q), want 401 with a challenge", c.api, status, challenge)
				}
			}
		})
	}
	orch, _ := in.as(control)
	wantStatus(t, orch.Do(t, "GET", "/tasks", nil), 200, "")
	// The token's roles claim grants nothing: victim is an operator now.
	_, cc = in.as(control)
	wantStatus(t, cc.Do(t, "GET", "/users", nil), 403, "permission denied")
	// A token in the query counts on the WebSocket only.
	res := apptestClient(in.OrchestratorURL()).Do(t, "GET", "/tasks?token="+control, nil)
	wantStatus(t, res, 401, "")
}

func TestExpiredTokenIsRefused(t *testing.T) {
	t.Parallel()
	in := startInstance(t, func(c *app.Config) { c.TokenTTL = 2 * time.Second })
	in.createUser(t, "brief", "viewer")
	orch, _ := in.as(in.login(t, "brief"))
	wantStatus(t, orch.Do(t, "GET", "/tasks", nil), 200, "")
	eventstest.Eventually(t, 10*time.Second, func() bool { return orch.Do(t, "GET", "/tasks", nil).Status == 401 },
		"the token outlived its lifetime")
}
