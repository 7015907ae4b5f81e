package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Session is a token and what the control center said about it.
type Session struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	// User is set by Login (a refresh keeps the user of the session it
	// refreshed).
	User *SessionUser `json:"user,omitempty"`
}

// SessionUser is the user a login answered for.
type SessionUser struct {
	ID       string   `json:"id"`
	Username string   `json:"username"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
}

// LoginRequest is the body of POST /auth/login. MFACode is needed for a
// user with MFA enrolled (a TOTP code, accepted once).
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	MFACode  string `json:"mfa_code,omitempty"`
}

// Session returns the client's current session (zero before a login).
func (c *Client) Session() Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// SetSession replaces the client's session (for example with one read
// from disk). A session without ExpiresAt takes it from the token.
func (c *Client) SetSession(s Session) {
	cl, _ := parseClaims(s.Token)
	if s.ExpiresAt.IsZero() {
		s.ExpiresAt = cl.exp
	}
	at := c.refreshTime(s, cl.iat)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.session = s
	c.refreshAt = at
}

// refreshTime is when a session whose token was issued at iat (zero when
// unknown) is due a refresh: the refresh margin before its expiry. The
// margin is WithRefreshBefore, or a third of the token's lifetime when
// that is shorter. Zero means never.
func (c *Client) refreshTime(s Session, iat time.Time) time.Time {
	if s.Token == "" || s.ExpiresAt.IsZero() || c.refreshBefore <= 0 {
		return time.Time{}
	}
	margin := c.refreshBefore
	if !iat.IsZero() {
		margin = min(margin, s.ExpiresAt.Sub(iat)/3)
	}
	if margin <= 0 {
		return time.Time{}
	}
	return s.ExpiresAt.Add(-margin)
}

// Login signs in at the control center (POST /auth/login) and makes the
// answer the client's session. Every failure is a 401 with one message
// (the server does not say whether the user, the password or the MFA code
// was wrong).
func (c *Client) Login(ctx context.Context, req LoginRequest) (*Session, error) {
	var s Session
	if _, err := c.do(ctx, request{api: controlAPI, method: http.MethodPost, path: "/auth/login", body: req, anonymous: true}, &s); err != nil {
		return nil, err
	}
	c.SetSession(s)
	return &s, nil
}

// Refresh exchanges the session's token for a new one (POST
// /auth/refresh); the old token is revoked. The client calls it by itself
// when the token is near expiry (WithRefreshBefore).
func (c *Client) Refresh(ctx context.Context) (*Session, error) {
	c.refreshing.Lock()
	defer c.refreshing.Unlock()
	return c.refresh(ctx)
}

// refresh runs with c.refreshing held.
func (c *Client) refresh(ctx context.Context) (*Session, error) {
	old := c.Session()
	if old.Token == "" {
		return nil, errors.New("refresh: the client has no token; log in first")
	}
	var s Session
	req := request{api: controlAPI, method: http.MethodPost, path: "/auth/refresh",
		body: map[string]string{"token": old.Token}, anonymous: true,
		header: http.Header{"Authorization": {"Bearer " + old.Token}}}
	if _, err := c.do(ctx, req, &s); err != nil {
		return nil, err
	}
	if s.User == nil {
		s.User = old.User
	}
	c.SetSession(s)
	if c.onRefresh != nil {
		c.onRefresh(c.Session())
	}
	return &s, nil
}

// Logout revokes the session's token (POST /auth/logout) and forgets it.
// The session is forgotten even when the server refuses (the token may
// have expired already).
func (c *Client) Logout(ctx context.Context) error {
	_, err := c.do(ctx, request{api: controlAPI, method: http.MethodPost, path: "/auth/logout"}, nil)
	c.SetSession(Session{})
	return err
}

// refreshIfDue refreshes a token that expires within the refresh margin
// and has not expired yet. A refresh that fails is not an error of the
// call that triggered it: the old token is still valid, and if it is not
// the call's own answer says so.
func (c *Client) refreshIfDue(ctx context.Context) {
	if !c.refreshDue() || c.control == nil {
		return
	}
	c.refreshing.Lock()
	defer c.refreshing.Unlock()
	if c.refreshDue() { // another call may have refreshed meanwhile
		_, _ = c.refresh(ctx)
	}
}

func (c *Client) refreshDue() bool {
	c.mu.Lock()
	at, exp := c.refreshAt, c.session.ExpiresAt
	c.mu.Unlock()
	if at.IsZero() {
		return false
	}
	now := c.now()
	// An expired token is not refreshed: only a new login helps.
	return !now.Before(at) && now.Before(exp)
}

// tokenClaims are the claims of a JWT the client reads.
type tokenClaims struct {
	sub      string
	exp, iat time.Time
}

// parseClaims reads the sub, exp and iat claims of a JWT without
// verifying it: the client only uses them to schedule refreshes and name
// the user, the server verifies.
func parseClaims(token string) (tokenClaims, error) {
	var out tokenClaims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return out, errors.New("token: not a JWT (want three dot-separated parts)")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return out, fmt.Errorf("token: payload: %w", err)
	}
	var c struct {
		Sub string  `json:"sub"`
		Exp float64 `json:"exp"`
		Iat float64 `json:"iat"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return out, fmt.Errorf("token: claims: %w", err)
	}
	out.sub = c.Sub
	if c.Exp > 0 {
		out.exp = time.Unix(int64(c.Exp), 0)
	}
	if c.Iat > 0 {
		out.iat = time.Unix(int64(c.Iat), 0)
	}
	return out, nil
}

// TokenSubject returns the sub claim (the user id) of a JWT such as
// Session.Token, without verifying the token. It fails for a token it
// cannot read or one without a subject.
func TokenSubject(token string) (string, error) {
	cl, err := parseClaims(token)
	if err != nil {
		return "", err
	}
	if cl.sub == "" {
		return "", errors.New("token: no sub claim")
	}
	return cl.sub, nil
}
