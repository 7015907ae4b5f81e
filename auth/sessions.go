package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"provisioning/events"
	"provisioning/workflow"
)

// LoginRequest is the body of POST /auth/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	MFACode  string `json:"mfa_code"`
}

// Check refuses a login whose fields are out of every account's bounds,
// before any hashing: a *workflow.ValidationError naming them.
func (q LoginRequest) Check() error {
	v := &workflow.ValidationError{}
	if strings.TrimSpace(q.Username) == "" {
		v.Add("username", "is required")
	} else if len(q.Username) > MaxUsernameLen {
		v.Add("username", "must be at most %d characters", MaxUsernameLen)
	}
	if q.Password == "" {
		v.Add("password", "is required")
	} else if len(q.Password) > 4*MaxPasswordLen {
		v.Add("password", "must be at most %d characters", MaxPasswordLen)
	}
	if len(q.MFACode) > 16 {
		v.Add("mfa_code", "must be a %d-digit code", TOTPDigits)
	}
	return v.Err()
}

// SessionUser is the user a login's session belongs to.
type SessionUser struct {
	ID       string   `json:"id"`
	Username string   `json:"username"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
}

// Session is an issued token: the answer of a login (with its user) and
// of a refresh (without). TokenID is the token's jti, for the audit log.
type Session struct {
	Token     string       `json:"token"`
	ExpiresAt time.Time    `json:"expires_at"`
	User      *SessionUser `json:"user,omitempty"`
	TokenID   string       `json:"-"`
}

// Login checks the password (and the TOTP code of a user with MFA) and
// issues a token, recording the login as the user's last. Every failure
// is a *LoginRefused (ErrBadCredentials) that looks alike, in message and
// in cost: an unknown user costs a hash like a known one.
func (s *Service) Login(ctx context.Context, by Caller, q LoginRequest) (Session, error) {
	if err := q.Check(); err != nil {
		return Session{}, err
	}
	if err := s.fresh(ctx); err != nil {
		return Session{}, err
	}
	if err := s.Backoff.Locked(q.Username); err != nil {
		var lock *Lockout
		errors.As(err, &lock)
		return Session{}, &LoginRefused{Reason: "account locked after failed attempts", Lockout: lock}
	}
	user, err := s.checkCredentials(ctx, q)
	var refused *LoginRefused
	if errors.As(err, &refused) {
		s.failed(q.Username)
	}
	if err != nil {
		return Session{}, err
	}
	session, err := s.issue(ctx, by, user)
	if err != nil {
		return Session{}, err
	}
	session.User = &SessionUser{ID: user.ID, Username: user.Username, Email: user.Email, Roles: user.Roles}
	return session, nil
}

// checkCredentials returns the user when the login may proceed, or a
// *LoginRefused saying (for the audit log only) why not; any other error
// is an outage.
func (s *Service) checkCredentials(ctx context.Context, q LoginRequest) (Account, error) {
	user, ok := s.Users.ByUsername(q.Username)
	if !ok {
		if err := s.Hasher.VerifyDummy(ctx, q.Password); !errors.Is(err, ErrMismatch) {
			return Account{}, hashError(err)
		}
		return Account{}, &LoginRefused{Reason: "unknown user"}
	}
	refused := func(reason string) (Account, error) { return Account{}, &LoginRefused{UserID: user.ID, Reason: reason} }
	if err := s.Hasher.Verify(ctx, user.PasswordHash, q.Password); err != nil {
		if errors.Is(err, ErrMismatch) {
			return refused("wrong password")
		}
		return Account{}, hashError(err)
	}
	switch {
	case !user.Enabled:
		return refused("user disabled")
	case !user.MFAEnabled:
		return user, nil
	case q.MFACode == "":
		return refused("MFA code missing")
	}
	secret, err := s.Secrets.OpenStored(TOTPPurpose(user.ID), user.MFASecret)
	if err != nil {
		return Account{}, fmt.Errorf("the TOTP secret of user %s: %w", user.ID, err)
	}
	step, ok := MatchTOTP(string(secret), q.MFACode, s.Tokens.Clock())
	if !ok {
		return refused("MFA code wrong")
	}
	if err := s.Codes.Consume(ctx, user.ID, step); err != nil {
		if errors.Is(err, ErrCodeUsed) {
			return refused("MFA code replayed")
		}
		return Account{}, err
	}
	return user, nil
}

// issue signs a token for user and records the login (its last_login),
// as the user's own act.
func (s *Service) issue(ctx context.Context, by Caller, user Account) (Session, error) {
	token, claims, err := s.Tokens.Issue(ctx, user.ID, user.Username, user.Roles, user.TokensValidAfter)
	if err != nil {
		return Session{}, err
	}
	e, err := events.New(events.UserLoggedIn, user.ID, events.UserLoggedInData{UserID: user.ID, TokenID: claims.ID})
	if err != nil {
		return Session{}, err
	}
	e.Actor, e.CorrelationID = "user:"+user.ID, by.CorrelationID
	if _, err := s.Store.Append(ctx, e); err != nil {
		return Session{}, err
	}
	return Session{Token: token, ExpiresAt: claims.ExpiresAt.Time.UTC(), TokenID: claims.ID}, nil
}

// Refresh issues a new token to the caller p and revokes the old one:
// token (which must be p's own: ErrOtherUser otherwise), or p's when
// token is empty. It returns the new session and the id of the token it
// revoked. An invalid token is ErrInvalidToken.
func (s *Service) Refresh(ctx context.Context, by Caller, p Principal, token string) (Session, string, error) {
	old := p
	if token != "" {
		q, err := s.Authenticator.Authenticate(ctx, token)
		if err != nil {
			return Session{}, "", refuse(ErrInvalidToken, "the token to refresh is not valid")
		}
		if q.UserID != p.UserID {
			return Session{}, "", refuse(ErrOtherUser, "the token to refresh belongs to another user")
		}
		old = q
	}
	user, ok := s.Users.Get(p.UserID)
	if !ok {
		return Session{}, "", fmt.Errorf("%w: user %s no longer exists", ErrInvalidToken, p.UserID)
	}
	session, err := s.issue(ctx, by, user)
	if err != nil {
		return Session{}, "", err
	}
	if err := s.Revocations.Revoke(ctx, old.Issuer, old.TokenID, old.ExpiresAt); err != nil {
		return Session{}, "", err
	}
	return session, old.TokenID, nil
}

// Logout revokes the caller's token.
func (s *Service) Logout(ctx context.Context, p Principal) error {
	return s.Revocations.Revoke(ctx, p.Issuer, p.TokenID, p.ExpiresAt)
}
