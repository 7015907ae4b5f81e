package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// User is a user of the control center. No answer ever holds a password
// or an MFA secret.
type User struct {
	ID         string     `json:"id"`
	Username   string     `json:"username"`
	Email      string     `json:"email"`
	Roles      []string   `json:"roles"`
	Enabled    bool       `json:"enabled"`
	MFAEnabled bool       `json:"mfa_enabled"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  *time.Time `json:"updated_at,omitempty"`
	LastLogin  *time.Time `json:"last_login"`
}

// UserFilter selects users of GET /users.
type UserFilter struct {
	Role    string
	Enabled *bool
	ListOptions
}

func (f UserFilter) query() url.Values {
	q := url.Values{}
	if f.Role != "" {
		q.Set("role", f.Role)
	}
	if f.Enabled != nil {
		q.Set("enabled", strconv.FormatBool(*f.Enabled))
	}
	return f.ListOptions.query(q)
}

// CreateUserRequest is the body of POST /users. Enabled nil means
// enabled.
type CreateUserRequest struct {
	Username string   `json:"username"`
	Email    string   `json:"email,omitempty"`
	Password string   `json:"password"`
	Roles    []string `json:"roles"`
	Enabled  *bool    `json:"enabled,omitempty"`
}

// UpdateUserRequest is the body of PUT /users/{id}: nil fields are left
// as they are (Roles pointing at an empty slice removes every role).
type UpdateUserRequest struct {
	Email    *string   `json:"email,omitempty"`
	Roles    *[]string `json:"roles,omitempty"`
	Enabled  *bool     `json:"enabled,omitempty"`
	Password *string   `json:"password,omitempty"`
}

// MFAEnrolment is the answer of POST /users/{id}/mfa: the TOTP secret,
// shown once, to put in an authenticator app.
type MFAEnrolment struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
}

// ListUsers returns one page of users.
func (c *Client) ListUsers(ctx context.Context, f UserFilter) (*Page[User], error) {
	return list[User](ctx, c, controlAPI, "/users", f.query())
}

// Users iterates over every user the filter selects.
func (c *Client) Users(ctx context.Context, f UserFilter) iter.Seq2[User, error] {
	return all[User](ctx, c, controlAPI, "/users", f.query())
}

// GetUser returns one user.
func (c *Client) GetUser(ctx context.Context, id string) (*User, error) {
	var u User
	if _, err := c.do(ctx, request{api: controlAPI, method: http.MethodGet, path: pathf("/users/%s", id)}, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// CreateUser creates a user; ErrConflict when the username or email is
// taken, ErrValidation for a weak password or a bad field.
func (c *Client) CreateUser(ctx context.Context, req CreateUserRequest) (*User, error) {
	var u User
	if req.Roles == nil {
		req.Roles = []string{}
	}
	if _, err := c.do(ctx, request{api: controlAPI, method: http.MethodPost, path: "/users", body: req}, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// UpdateUser changes a user and returns the server's message.
func (c *Client) UpdateUser(ctx context.Context, id string, req UpdateUserRequest) (string, error) {
	var m message
	_, err := c.do(ctx, request{api: controlAPI, method: http.MethodPut, path: pathf("/users/%s", id), body: req}, &m)
	return string(m), err
}

// DeleteUser deletes a user and returns the server's message.
func (c *Client) DeleteUser(ctx context.Context, id string) (string, error) {
	var m message
	_, err := c.do(ctx, request{api: controlAPI, method: http.MethodDelete, path: pathf("/users/%s", id)}, &m)
	return string(m), err
}

// EnrollMFA starts MFA enrolment of a user; VerifyMFA with a first code
// turns it on.
func (c *Client) EnrollMFA(ctx context.Context, userID string) (*MFAEnrolment, error) {
	var e MFAEnrolment
	if _, err := c.do(ctx, request{api: controlAPI, method: http.MethodPost, path: pathf("/users/%s/mfa", userID)}, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// VerifyMFA turns MFA on with a code from the enrolled secret.
func (c *Client) VerifyMFA(ctx context.Context, userID, code string) (string, error) {
	var m message
	_, err := c.do(ctx, request{api: controlAPI, method: http.MethodPost, path: pathf("/users/%s/mfa/verify", userID),
		body: map[string]string{"code": code}}, &m)
	return string(m), err
}

// PolicyRule is one rule of a policy: Effect "Allow" or "Deny" on
// Resource "kind:pattern" for Action, when Condition (CEL) holds.
type PolicyRule struct {
	Effect    string   `json:"effect" toml:"effect"`
	Resource  string   `json:"resource" toml:"resource"`
	Action    []string `json:"action" toml:"action"`
	Condition string   `json:"condition,omitempty" toml:"condition"`
}

// Policy is a policy as GET /policies shows it.
type Policy struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Version     string       `json:"version"`
	Description string       `json:"description,omitempty"`
	Rules       []PolicyRule `json:"rules"`
	Enabled     bool         `json:"enabled"`
	CreatedAt   time.Time    `json:"created_at"`
	UpdatedAt   *time.Time   `json:"updated_at,omitempty"`
}

// PolicyRequest is the body of POST /policies and PUT /policies/{id}: on
// an update, nil fields are left as they are.
type PolicyRequest struct {
	Name        *string       `json:"name,omitempty" toml:"name"`
	Version     *string       `json:"version,omitempty" toml:"version"`
	Description *string       `json:"description,omitempty" toml:"description"`
	Rules       *[]PolicyRule `json:"rules,omitempty" toml:"rules"`
	Enabled     *bool         `json:"enabled,omitempty" toml:"enabled"`
}

// PolicyCreated is the answer of POST /policies.
type PolicyCreated struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

// ListPolicies returns one page of policies.
func (c *Client) ListPolicies(ctx context.Context, o ListOptions) (*Page[Policy], error) {
	return list[Policy](ctx, c, controlAPI, "/policies", o.query(nil))
}

// Policies iterates over every policy.
func (c *Client) Policies(ctx context.Context, o ListOptions) iter.Seq2[Policy, error] {
	return all[Policy](ctx, c, controlAPI, "/policies", o.query(nil))
}

// GetPolicy returns one policy.
func (c *Client) GetPolicy(ctx context.Context, id string) (*Policy, error) {
	var p Policy
	if _, err := c.do(ctx, request{api: controlAPI, method: http.MethodGet, path: pathf("/policies/%s", id)}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// CreatePolicy creates a policy; a condition that does not compile is
// ErrValidation with the compiler's message.
func (c *Client) CreatePolicy(ctx context.Context, req PolicyRequest) (*PolicyCreated, error) {
	var p PolicyCreated
	if _, err := c.do(ctx, request{api: controlAPI, method: http.MethodPost, path: "/policies", body: req}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// UpdatePolicy changes a policy and returns the server's message.
func (c *Client) UpdatePolicy(ctx context.Context, id string, req PolicyRequest) (string, error) {
	var m message
	_, err := c.do(ctx, request{api: controlAPI, method: http.MethodPut, path: pathf("/policies/%s", id), body: req}, &m)
	return string(m), err
}

// DeletePolicy deletes a policy and returns the server's message.
func (c *Client) DeletePolicy(ctx context.Context, id string) (string, error) {
	var m message
	_, err := c.do(ctx, request{api: controlAPI, method: http.MethodDelete, path: pathf("/policies/%s", id)}, &m)
	return string(m), err
}

// AuditRecord is one entry of the audit log. Result is success, failure
// or denied.
type AuditRecord struct {
	ID        string          `json:"id"`
	Timestamp time.Time       `json:"timestamp"`
	UserID    string          `json:"user_id"`
	Action    string          `json:"action"`
	Resource  string          `json:"resource"`
	Result    string          `json:"result"`
	Details   json.RawMessage `json:"details"`
}

// AuditFilter selects entries of GET /audit/logs (newest first). Zero
// fields do not filter.
type AuditFilter struct {
	UserID   string
	Action   string
	Resource string
	Result   string
	From, To time.Time
	ListOptions
}

func (f AuditFilter) query() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("user_id", f.UserID)
	set("action", f.Action)
	set("resource", f.Resource)
	set("result", f.Result)
	if !f.From.IsZero() {
		q.Set("from", f.From.UTC().Format(time.RFC3339))
	}
	if !f.To.IsZero() {
		q.Set("to", f.To.UTC().Format(time.RFC3339))
	}
	return f.ListOptions.query(q)
}

// AuditLogs returns one page of the audit log.
func (c *Client) AuditLogs(ctx context.Context, f AuditFilter) (*Page[AuditRecord], error) {
	return list[AuditRecord](ctx, c, controlAPI, "/audit/logs", f.query())
}

// AuditRecords iterates over every entry the filter selects.
func (c *Client) AuditRecords(ctx context.Context, f AuditFilter) iter.Seq2[AuditRecord, error] {
	return all[AuditRecord](ctx, c, controlAPI, "/audit/logs", f.query())
}
