package auth

import (
	"context"
	"fmt"
	"time"
)

// Principal is an authenticated caller: the user behind a valid token,
// with the roles the user has now (not those the token was issued with).
type Principal struct {
	UserID   string
	Username string
	Roles    []string
	// The token: its id, issuer and lifetime (for logout and refresh).
	TokenID   string
	Issuer    string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Identity names the principal in events and audit records: "user:<id>".
func (p Principal) Identity() string { return "user:" + p.UserID }

// Subject is the principal as policy conditions see it.
func (p Principal) Subject() User {
	u := User{ID: p.UserID, Username: p.Username, Roles: p.Roles}
	if len(p.Roles) > 0 {
		u.Role = p.Roles[0]
	}
	return u
}

// UserSource is the user view (*projections.Users).
type UserSource interface {
	Standing(id string) (Standing, bool)
}

// Authenticator turns a bearer token into a Principal: the token must
// verify (Tokens.Parse), not be revoked, and belong to a user who exists,
// is enabled, and has not invalidated it since (password change, disable).
type Authenticator struct {
	Tokens      *Tokens
	Revocations *Revocations
	Users       UserSource
	// CatchUp, when set, waits until the user view holds every event
	// stored so far. It is called only before refusing a token whose user
	// the view does not know, which on another instance may be one
	// created a moment ago.
	CatchUp func(ctx context.Context) error
}

// StillValid reports whether an authenticated principal's token may
// still be used, as a long-lived connection must check while it lasts: it
// has not expired, nor been revoked, and its user exists, is enabled and
// has not invalidated it since. It costs a few lookups in memory. Every
// refusal wraps ErrInvalidToken; its message after the sentinel's is fit
// for the token's holder.
func (a *Authenticator) StillValid(p Principal) error {
	if !a.Tokens.Clock().Before(p.ExpiresAt) {
		return fmt.Errorf("%w: token expired", ErrInvalidToken)
	}
	if a.Revocations.Revoked(p.Issuer, p.TokenID) {
		return fmt.Errorf("%w: token revoked", ErrInvalidToken)
	}
	acc, ok := a.Users.Standing(p.UserID)
	switch {
	case !ok:
		return fmt.Errorf("%w: user no longer exists", ErrInvalidToken)
	case !acc.Enabled:
		return fmt.Errorf("%w: user disabled", ErrInvalidToken)
	case !acc.TokensValidAfter.IsZero() && p.IssuedAt.Unix() <= acc.TokensValidAfter.Unix():
		return fmt.Errorf("%w: token invalidated by a password change", ErrInvalidToken)
	}
	return nil
}

// Authenticate verifies token. Every refusal wraps ErrInvalidToken.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (Principal, error) {
	c, err := a.Tokens.Parse(token)
	if err != nil {
		return Principal{}, err
	}
	if a.Revocations.Revoked(c.Issuer, c.ID) {
		return Principal{}, fmt.Errorf("%w: token %s was revoked", ErrInvalidToken, c.ID)
	}
	acc, ok := a.Users.Standing(c.Subject)
	if !ok && a.CatchUp != nil && a.CatchUp(ctx) == nil {
		acc, ok = a.Users.Standing(c.Subject)
	}
	switch {
	case !ok:
		return Principal{}, fmt.Errorf("%w: user %s does not exist", ErrInvalidToken, c.Subject)
	case !acc.Enabled:
		return Principal{}, fmt.Errorf("%w: user %s is disabled", ErrInvalidToken, c.Subject)
	case !acc.TokensValidAfter.IsZero() && c.IssuedAt.Unix() <= acc.TokensValidAfter.Unix():
		return Principal{}, fmt.Errorf("%w: token %s predates the user's last password change or disable", ErrInvalidToken, c.ID)
	}
	return Principal{
		UserID: c.Subject, Username: acc.Username, Roles: acc.Roles,
		TokenID: c.ID, Issuer: c.Issuer, IssuedAt: c.IssuedAt.Time, ExpiresAt: c.ExpiresAt.Time,
	}, nil
}
