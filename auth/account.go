package auth

import (
	"slices"
	"strings"
	"time"

	"provisioning/events"
	"provisioning/secrets"
)

// Account is one user as folded from PROV_IAM. It holds the password
// hash and the TOTP secrets: it is never encoded as it is (the control
// center shows a view without them).
type Account struct {
	ID        string
	Username  string
	Email     string
	Roles     []string
	Enabled   bool
	CreatedAt time.Time
	UpdatedAt time.Time
	LastLogin *time.Time

	PasswordHash string
	// MFASecret is the confirmed TOTP secret (MFAEnabled), MFAPending one
	// enrolled but not verified yet; both as stored: sealed (or, from
	// events of older versions, in the clear), opened only to check a
	// code.
	MFASecret  secrets.Stored
	MFAPending secrets.Stored
	MFAEnabled bool
	// TokensValidAfter: tokens issued at or before this instant (second
	// precision, as JWT iat) are refused. Set by a password change or a
	// disable.
	TokensValidAfter time.Time
}

// IsAdmin reports whether the account is an enabled admin: one of those
// who can manage users and policies.
func (a Account) IsAdmin() bool { return a.Enabled && slices.Contains(a.Roles, RoleAdmin) }

// Standing is what a request needs to know about its caller's account:
// whether it is enabled, its roles (shared with the view: never modify
// them), and since when its tokens count.
type Standing struct {
	Username         string
	Roles            []string
	Enabled          bool
	TokensValidAfter time.Time
}

// UserFilter narrows a list of users: Role keeps users having it;
// Enabled, when set, keeps users in that state.
type UserFilter struct {
	Role    string
	Enabled *bool
}

// Match reports whether a passes the filter.
func (f UserFilter) Match(a *Account) bool {
	if f.Role != "" && !slices.Contains(a.Roles, f.Role) {
		return false
	}
	return f.Enabled == nil || a.Enabled == *f.Enabled
}

// NameKey is how usernames and emails are compared: case-insensitively,
// ignoring surrounding space.
func NameKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Policy is one access policy as folded from PROV_IAM, and as the API
// shows it. Seq is the stream sequence of its last change: a compiled
// form cached under (ID, Seq) is valid until the policy changes.
type Policy struct {
	ID          string              `json:"id"`
	Name        string              `json:"name"`
	Version     string              `json:"version"`
	Description string              `json:"description,omitempty"`
	Rules       []events.PolicyRule `json:"rules"`
	Enabled     bool                `json:"enabled"`
	CreatedAt   time.Time           `json:"created_at"`
	UpdatedAt   time.Time           `json:"updated_at"`
	Seq         uint64              `json:"-"`
}
