package controlcenter

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"provisioning/auth"
	"provisioning/events"
	"provisioning/handlers"
)

// UserView is a user as the API shows it: never a password hash or a
// TOTP secret.
type UserView struct {
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

func viewOfUser(u auth.Account) UserView {
	return UserView{ID: u.ID, Username: u.Username, Email: u.Email, Roles: u.Roles, Enabled: u.Enabled,
		MFAEnabled: u.MFAEnabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, LastLogin: u.LastLogin}
}

// caller is who asks, as the identity rules see it.
func caller(r *http.Request) auth.Caller {
	c := auth.Caller{Actor: handlers.Actor(r), CorrelationID: handlers.RequestID(r.Context()), IP: handlers.ClientIP(r)}
	if p, ok := handlers.PrincipalFrom(r.Context()); ok {
		c.Principal = &p
	}
	return c
}

func (c *API) createUser(w http.ResponseWriter, r *http.Request) error {
	var req auth.CreateUserRequest
	if err := handlers.DecodeJSON(r, &req); err != nil {
		return err
	}
	user, err := req.User(events.NewID())
	if err != nil {
		return err
	}
	handlers.NoteResource(r, "users/"+user.ID)
	handlers.NoteDetail(r, "username", user.Username)
	created, err := c.Identity.CreateUser(r.Context(), caller(r), user)
	if err != nil {
		return err
	}
	return handlers.WriteJSON(w, http.StatusCreated, created)
}

func (c *API) listUsers(w http.ResponseWriter, r *http.Request) error {
	p, err := handlers.ParsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := auth.UserFilter{Role: q.Get("role")}
	if q.Has("enabled") {
		b, err := strconv.ParseBool(q.Get("enabled"))
		if err != nil {
			return handlers.Errorf(http.StatusBadRequest, "enabled must be true or false, not %q", q.Get("enabled"))
		}
		f.Enabled = &b
	}
	users, total := c.Users.List(f, p.Offset, p.Limit)
	out := make([]UserView, len(users))
	for i, u := range users {
		out[i] = viewOfUser(u)
	}
	return handlers.WritePage(w, r, p, total, out)
}

func (c *API) getUser(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	u, ok := c.Users.Get(id)
	if !ok {
		return handlers.Errorf(http.StatusNotFound, "user %s not found", id)
	}
	return handlers.WriteJSON(w, http.StatusOK, viewOfUser(u))
}

func (c *API) updateUser(w http.ResponseWriter, r *http.Request) error {
	var req auth.UpdateUserRequest
	if err := handlers.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := c.Identity.UpdateUser(r.Context(), caller(r), chi.URLParam(r, "id"), req); err != nil {
		return err
	}
	handlers.NoteDetail(r, "fields", req.Fields())
	return handlers.WriteJSON(w, http.StatusOK, "User updated successfully")
}

// changePassword lets a user change their own password, proving the
// current one.
func (c *API) changePassword(w http.ResponseWriter, r *http.Request) error {
	var req auth.PasswordChange
	if err := handlers.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := c.Identity.ChangePassword(r.Context(), caller(r), chi.URLParam(r, "id"), req); err != nil {
		return err
	}
	handlers.NoteDetail(r, "fields", []string{"password"})
	return handlers.WriteJSON(w, http.StatusOK, "Password changed; log in again with the new one")
}

func (c *API) deleteUser(w http.ResponseWriter, r *http.Request) error {
	gone, err := c.Identity.DeleteUser(r.Context(), caller(r), chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	handlers.NoteDetail(r, "username", gone.Username)
	return handlers.WriteJSON(w, http.StatusOK, "User deleted successfully")
}

func (c *API) enrolMFA(w http.ResponseWriter, r *http.Request) error {
	enrolment, err := c.Identity.EnrolMFA(r.Context(), caller(r), chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	return handlers.WriteJSON(w, http.StatusOK, enrolment)
}

type VerifyMFARequest struct {
	Code string `json:"code"`
}

func (c *API) verifyMFA(w http.ResponseWriter, r *http.Request) error {
	var req VerifyMFARequest
	if err := handlers.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := c.Identity.VerifyMFA(r.Context(), caller(r), chi.URLParam(r, "id"), req.Code); err != nil {
		return err
	}
	return handlers.WriteJSON(w, http.StatusOK, "MFA enabled")
}
