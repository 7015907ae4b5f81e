package handlers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"provisioning/auth"
	"provisioning/events"
)

// userView is a user as the API shows it: never a password hash or a
// TOTP secret.
type userView struct {
	ID         string     `json:"id"`
	Username   string     `json:"username"`
	Email      string     `json:"email"`
	Roles      []string   `json:"roles"`
	Enabled    bool       `json:"enabled"`
	MFAEnabled bool       `json:"mfa_enabled"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	LastLogin  *time.Time `json:"last_login"`
}

func viewOfUser(u auth.Account) userView {
	return userView{ID: u.ID, Username: u.Username, Email: u.Email, Roles: u.Roles, Enabled: u.Enabled,
		MFAEnabled: u.MFAEnabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, LastLogin: u.LastLogin}
}

// identityCaller is who asks, as the identity rules see it.
func identityCaller(r *http.Request) auth.Caller {
	c := auth.Caller{Actor: Actor(r), CorrelationID: RequestID(r.Context()), IP: ClientIP(r)}
	if p, ok := PrincipalFrom(r.Context()); ok {
		c.Principal = &p
	}
	return c
}

func (c *ControlCenter) createUser(w http.ResponseWriter, r *http.Request) error {
	var req auth.CreateUserRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	user, err := req.User(events.NewID())
	if err != nil {
		return err
	}
	noteResource(r, "users/"+user.ID)
	noteDetail(r, "username", user.Username)
	created, err := c.Identity.CreateUser(r.Context(), identityCaller(r), user)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, created)
}

func (c *ControlCenter) listUsers(w http.ResponseWriter, r *http.Request) error {
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := auth.UserFilter{Role: q.Get("role")}
	if q.Has("enabled") {
		b, err := strconv.ParseBool(q.Get("enabled"))
		if err != nil {
			return errorf(http.StatusBadRequest, "enabled must be true or false, not %q", q.Get("enabled"))
		}
		f.Enabled = &b
	}
	users, total := c.Users.List(f, p.Offset, p.Limit)
	out := make([]userView, len(users))
	for i, u := range users {
		out[i] = viewOfUser(u)
	}
	return writePage(w, r, p, total, out)
}

func (c *ControlCenter) getUser(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	u, ok := c.Users.Get(id)
	if !ok {
		return errorf(http.StatusNotFound, "user %s not found", id)
	}
	return writeJSON(w, http.StatusOK, viewOfUser(u))
}

func (c *ControlCenter) updateUser(w http.ResponseWriter, r *http.Request) error {
	var req auth.UpdateUserRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := c.Identity.UpdateUser(r.Context(), identityCaller(r), chi.URLParam(r, "id"), req); err != nil {
		return err
	}
	noteDetail(r, "fields", req.Fields())
	return writeJSON(w, http.StatusOK, "User updated successfully")
}

func (c *ControlCenter) deleteUser(w http.ResponseWriter, r *http.Request) error {
	gone, err := c.Identity.DeleteUser(r.Context(), identityCaller(r), chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	noteDetail(r, "username", gone.Username)
	return writeJSON(w, http.StatusOK, "User deleted successfully")
}

func (c *ControlCenter) enrolMFA(w http.ResponseWriter, r *http.Request) error {
	enrolment, err := c.Identity.EnrolMFA(r.Context(), identityCaller(r), chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, enrolment)
}

type verifyMFARequest struct {
	Code string `json:"code"`
}

func (c *ControlCenter) verifyMFA(w http.ResponseWriter, r *http.Request) error {
	var req verifyMFARequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := c.Identity.VerifyMFA(r.Context(), identityCaller(r), chi.URLParam(r, "id"), req.Code); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, "MFA enabled")
}
