package handlers

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"provisioning/auth"
	"provisioning/events"
	"provisioning/projections"
	"provisioning/workflow"
)

// loginRequest is the body of POST /auth/login.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	MFACode  string `json:"mfa_code"`
}

// Bounds of login fields: past them no account can match, so the request
// is refused before any hashing.
const (
	maxUsernameLen = 64
	maxEmailLen    = 254
)

func (l *loginRequest) validate() error {
	v := &workflow.ValidationError{}
	if strings.TrimSpace(l.Username) == "" {
		v.Add("username", "is required")
	} else if len(l.Username) > maxUsernameLen {
		v.Add("username", "must be at most %d characters", maxUsernameLen)
	}
	if l.Password == "" {
		v.Add("password", "is required")
	} else if len(l.Password) > 4*auth.MaxPasswordLen {
		v.Add("password", "must be at most %d characters", auth.MaxPasswordLen)
	}
	if len(l.MFACode) > 16 {
		v.Add("mfa_code", "must be a %d-digit code", auth.TOTPDigits)
	}
	return v.Err()
}

// loginFailed is the one answer of every failed login: it does not say
// whether the user exists, the password was wrong or the code was.
const loginFailed = "invalid username, password or MFA code"

type sessionUser struct {
	ID       string   `json:"id"`
	Username string   `json:"username"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
}

type sessionAnswer struct {
	Token     string       `json:"token"`
	ExpiresAt time.Time    `json:"expires_at"`
	User      *sessionUser `json:"user,omitempty"`
}

// login checks the password (and the TOTP code of a user with MFA) and
// issues a token. Every outcome is audited; failures all look alike, in
// message and in cost: an unknown user costs a hash like a known one.
func (c *ControlCenter) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := req.validate(); err != nil {
		writeError(w, r, err)
		return
	}
	if err := c.freshIAM(r); err != nil {
		writeError(w, r, err)
		return
	}
	user, reason, err := c.checkCredentials(r, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	rec := events.AuditRecordedData{UserID: user.ID, Action: "auth.login", Resource: "auth",
		Details: map[string]any{"username": req.Username}}
	if reason != "" {
		rec.Result = events.AuditFailure
		rec.Details["reason"] = reason
		if !c.audit(w, r, rec) {
			return
		}
		e := errorf(http.StatusUnauthorized, loginFailed)
		e.Header = http.Header{"WWW-Authenticate": {`Bearer realm="provisioning"`}}
		writeError(w, r, e)
		return
	}
	answer, err := c.issue(r, user)
	if err != nil {
		writeError(w, r, err)
		return
	}
	rec.Result = events.AuditSuccess
	rec.Resource = "users/" + user.ID
	rec.Details["token_id"] = answer.jti
	if !c.audit(w, r, rec) {
		return
	}
	writeJSON(w, http.StatusOK, answer.sessionAnswer)
}

// checkCredentials returns the user and "" when the login may proceed, or
// the reason (for the audit log only) it may not. err is an outage.
func (c *ControlCenter) checkCredentials(r *http.Request, req loginRequest) (projections.User, string, error) {
	user, ok := c.Users.ByUsername(req.Username)
	if !ok {
		if err := c.Hasher.VerifyDummy(r.Context(), req.Password); !errors.Is(err, auth.ErrMismatch) {
			return user, "", hashError(err)
		}
		return projections.User{}, "unknown user", nil
	}
	if err := c.Hasher.Verify(r.Context(), user.PasswordHash, req.Password); err != nil {
		if errors.Is(err, auth.ErrMismatch) {
			return user, "wrong password", nil
		}
		return user, "", hashError(err)
	}
	if !user.Enabled {
		return user, "user disabled", nil
	}
	if !user.MFAEnabled {
		return user, "", nil
	}
	if req.MFACode == "" {
		return user, "MFA code missing", nil
	}
	step, ok := auth.MatchTOTP(user.MFASecret, req.MFACode, c.Tokens.Clock())
	if !ok {
		return user, "MFA code wrong", nil
	}
	if err := c.Codes.Consume(r.Context(), user.ID, step); err != nil {
		if errors.Is(err, auth.ErrCodeUsed) {
			return user, "MFA code replayed", nil
		}
		return user, "", err
	}
	return user, "", nil
}

func hashError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errorf(http.StatusServiceUnavailable, "too many logins at once; retry shortly")
	}
	return err
}

type issued struct {
	sessionAnswer
	jti string
}

// issue signs a token for user and records the login (its last_login).
func (c *ControlCenter) issue(r *http.Request, user projections.User) (issued, error) {
	token, claims, err := c.Tokens.Issue(r.Context(), user.ID, user.Username, user.Roles, user.TokensValidAfter)
	if err != nil {
		return issued{}, err
	}
	e, err := events.New(events.UserLoggedIn, user.ID, events.UserLoggedInData{UserID: user.ID, TokenID: claims.ID})
	if err != nil {
		return issued{}, err
	}
	e.Actor = "user:" + user.ID
	e.CorrelationID = RequestID(r.Context())
	if _, err := c.Store.Append(r.Context(), e); err != nil {
		return issued{}, err
	}
	return issued{
		sessionAnswer: sessionAnswer{Token: token, ExpiresAt: claims.ExpiresAt.Time.UTC(),
			User: &sessionUser{ID: user.ID, Username: user.Username, Email: user.Email, Roles: user.Roles}},
		jti: claims.ID,
	}, nil
}

// audit appends a record the handler writes itself (logins); when that
// fails it answers 503 and reports false.
func (c *ControlCenter) audit(w http.ResponseWriter, r *http.Request, rec events.AuditRecordedData) bool {
	return c.Access.record(w, r, rec)
}

// refreshRequest is the body of POST /auth/refresh. Token defaults to the
// caller's own.
type refreshRequest struct {
	Token string `json:"token"`
}

// refresh returns a new token for the caller and revokes the old one: the
// body's token (which must be the caller's), or the caller's own.
func (c *ControlCenter) refresh(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req refreshRequest
	body, err := readBody(r)
	if err == nil && len(bytes.TrimSpace(body)) > 0 {
		err = decodeBody(body, &req)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	old := p
	if req.Token != "" {
		q, err := c.Access.Auth.Authenticate(r.Context(), req.Token)
		if err != nil {
			writeError(w, r, unauthorized("the token to refresh is not valid"))
			return
		}
		if q.UserID != p.UserID {
			writeError(w, r, errorf(http.StatusForbidden, "the token to refresh belongs to another user"))
			return
		}
		old = q
	}
	user, ok := c.Users.Get(p.UserID)
	if !ok {
		writeError(w, r, unauthorized(errUnauthenticated))
		return
	}
	answer, err := c.issue(r, user)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := c.Access.Auth.Revocations.Revoke(r.Context(), old.Issuer, old.TokenID, old.ExpiresAt); err != nil {
		writeError(w, r, err)
		return
	}
	noteResource(r, "users/"+p.UserID)
	noteDetail(r, "revoked_token_id", old.TokenID)
	noteDetail(r, "token_id", answer.jti)
	writeJSON(w, http.StatusOK, sessionAnswer{Token: answer.Token, ExpiresAt: answer.ExpiresAt})
}

// unauthorized is a 401 with its challenge (RFC 9110: every 401 has one).
func unauthorized(message string) *Error {
	e := errorf(http.StatusUnauthorized, "%s", message)
	e.Header = http.Header{"WWW-Authenticate": {`Bearer realm="provisioning", error="invalid_token"`}}
	return e
}

// logout revokes the caller's token.
func (c *ControlCenter) logout(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	if err := c.Access.Auth.Revocations.Revoke(r.Context(), p.Issuer, p.TokenID, p.ExpiresAt); err != nil {
		writeError(w, r, err)
		return
	}
	noteResource(r, "users/"+p.UserID)
	noteDetail(r, "token_id", p.TokenID)
	writeJSON(w, http.StatusOK, "Successfully logged out")
}
