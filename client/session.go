package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
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
	if s.ExpiresAt.IsZero() {
		s.ExpiresAt = tokenExpiry(s.Token)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.session = s
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
	s := c.Session()
	if s.Token == "" || s.ExpiresAt.IsZero() || c.refreshBefore <= 0 {
		return false
	}
	now := c.now()
	if !now.Before(s.ExpiresAt) {
		return false // expired: only a new login helps
	}
	margin := c.refreshBefore
	if iat := tokenIssuedAt(s.Token); !iat.IsZero() {
		margin = min(margin, s.ExpiresAt.Sub(iat)/3)
	}
	return s.ExpiresAt.Sub(now) <= margin
}

// claims reads the exp and iat claims of a JWT without verifying it: the
// client only uses them to schedule refreshes, the server verifies.
func claims(token string) (exp, iat time.Time) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return
	}
	var c struct {
		Exp float64 `json:"exp"`
		Iat float64 `json:"iat"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return
	}
	if c.Exp > 0 {
		exp = time.Unix(int64(c.Exp), 0)
	}
	if c.Iat > 0 {
		iat = time.Unix(int64(c.Iat), 0)
	}
	return
}

func tokenExpiry(token string) time.Time   { exp, _ := claims(token); return exp }
func tokenIssuedAt(token string) time.Time { _, iat := claims(token); return iat }
