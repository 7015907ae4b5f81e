package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"provisioning/auth"
	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/projections"
	"provisioning/workflow"
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

func viewOfUser(u projections.User) userView {
	return userView{ID: u.ID, Username: u.Username, Email: u.Email, Roles: u.Roles, Enabled: u.Enabled,
		MFAEnabled: u.MFAEnabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, LastLogin: u.LastLogin}
}

var (
	usernamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$`)
	rolePattern     = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
)

const maxRoles = 16

func checkEmail(v *workflow.ValidationError, email string) {
	if email == "" {
		return
	}
	addr, err := mail.ParseAddress(email)
	switch {
	case len(email) > maxEmailLen:
		v.Add("email", "must be at most %d characters", maxEmailLen)
	case err != nil || addr.Address != email:
		v.Add("email", "must be a plain address like name@example.com")
	}
}

func checkRoles(v *workflow.ValidationError, roles []string) {
	if len(roles) > maxRoles {
		v.Add("roles", "must hold at most %d roles", maxRoles)
		return
	}
	for i, role := range roles {
		switch {
		case !rolePattern.MatchString(role):
			v.Add(fmt.Sprintf("roles[%d]", i), "must be a lower-case name (built-in: admin, operator, viewer)")
		case slices.Index(roles, role) != i:
			v.Add(fmt.Sprintf("roles[%d]", i), "repeats %q", role)
		}
	}
}

func checkPassword(v *workflow.ValidationError, password, username, email string) {
	if err := auth.CheckPassword(password, username, email); err != nil {
		v.Add("password", "%s", err.Error())
	}
}

// createUserRequest is the body of POST /users.
type createUserRequest struct {
	Username string   `json:"username"`
	Email    string   `json:"email"`
	Password string   `json:"password"`
	Roles    []string `json:"roles"`
	Enabled  *bool    `json:"enabled"`
}

func (q *createUserRequest) validate() error {
	v := &workflow.ValidationError{}
	if !usernamePattern.MatchString(q.Username) {
		v.Add("username", "must be 2 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	checkEmail(v, q.Email)
	if q.Password == "" {
		v.Add("password", "is required")
	} else {
		checkPassword(v, q.Password, q.Username, q.Email)
	}
	checkRoles(v, q.Roles)
	return v.Err()
}

// CreateUser creates a user outside of a request (the bootstrap admin).
// It claims the username and email, then appends UserCreated; ErrTaken
// when either is held by another user.
func CreateUser(ctx context.Context, store *eventstore.Store, names *auth.Names, hasher *auth.Hasher, actor string, d events.UserCreatedData, password string) (events.Envelope, error) {
	if err := names.Claim(ctx, auth.KindUsername, d.Username, d.UserID); err != nil {
		return events.Envelope{}, err
	}
	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = names.Release(rctx, auth.KindUsername, d.Username, d.UserID)
		if d.Email != "" {
			_ = names.Release(rctx, auth.KindEmail, d.Email, d.UserID)
		}
	}
	if d.Email != "" {
		if err := names.Claim(ctx, auth.KindEmail, d.Email, d.UserID); err != nil {
			release()
			return events.Envelope{}, err
		}
	}
	hash, err := hasher.Hash(ctx, password)
	if err != nil {
		release()
		return events.Envelope{}, err
	}
	d.PasswordHash = hash
	e, err := events.New(events.UserCreated, d.UserID, d)
	if err != nil {
		release()
		return events.Envelope{}, err
	}
	e.Actor = actor
	stored, err := store.Append(ctx, e, eventstore.ExpectLast(0))
	if err != nil {
		release()
		return events.Envelope{}, fmt.Errorf("create user %s: %w", d.Username, err)
	}
	return stored, nil
}

func (c *ControlCenter) createUser(w http.ResponseWriter, r *http.Request) {
	var req createUserRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := req.validate(); err != nil {
		writeError(w, r, err)
		return
	}
	d := events.UserCreatedData{UserID: events.NewID(), Username: req.Username, Email: req.Email, Roles: req.Roles, Enabled: req.Enabled == nil || *req.Enabled}
	if d.Roles == nil {
		d.Roles = []string{}
	}
	noteResource(r, "users/"+d.UserID)
	noteDetail(r, "username", d.Username)
	stored, err := CreateUser(r.Context(), c.Store, c.Names, c.Hasher, Actor(r), d, req.Password)
	if err != nil {
		writeError(w, r, nameError(err))
		return
	}
	if err := c.seen(r, stored.Seq); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, userCreated{ID: d.UserID, Username: d.Username, Email: d.Email, Roles: d.Roles, Enabled: d.Enabled})
}

// userCreated is the answer of POST /users.
type userCreated struct {
	ID       string   `json:"id"`
	Username string   `json:"username"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
	Enabled  bool     `json:"enabled"`
}

func nameError(err error) error {
	if errors.Is(err, auth.ErrTaken) {
		return errorf(http.StatusConflict, "%s by another user", err.Error())
	}
	return err
}

func (c *ControlCenter) listUsers(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	f := projections.UserFilter{Role: q.Get("role")}
	if q.Has("enabled") {
		b, err := strconv.ParseBool(q.Get("enabled"))
		if err != nil {
			writeError(w, r, errorf(http.StatusBadRequest, "enabled must be true or false, not %q", q.Get("enabled")))
			return
		}
		f.Enabled = &b
	}
	if err := c.freshIAM(r); err != nil {
		writeError(w, r, err)
		return
	}
	users, total := c.Users.List(f, p.Offset, p.Limit)
	out := make([]userView, len(users))
	for i, u := range users {
		out[i] = viewOfUser(u)
	}
	writePage(w, r, p, total, out)
}

func (c *ControlCenter) getUser(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if err := c.freshIAM(r); err != nil {
		writeError(w, r, err)
		return
	}
	u, ok := c.Users.Get(id)
	if !ok {
		writeError(w, r, errorf(http.StatusNotFound, "user %s not found", id))
		return
	}
	writeJSON(w, http.StatusOK, viewOfUser(u))
}

// changeUser appends the event decide builds from the user's current
// state, expecting that state: when the user changed meanwhile (a login
// counts) it reads again and decides again. decide may return a nil
// event: nothing to do. A missing or deleted user is 404.
func (c *ControlCenter) changeUser(r *http.Request, id string, decide func(projections.User) (*events.Envelope, error)) (events.Envelope, error) {
	if !events.ValidID(id) {
		return events.Envelope{}, errorf(http.StatusNotFound, "user %s not found", id)
	}
	for range 5 {
		last, err := c.Store.Last(r.Context(), events.AggUser, id)
		if errors.Is(err, eventstore.ErrNotFound) || err == nil && last.Type == events.UserDeleted {
			return events.Envelope{}, errorf(http.StatusNotFound, "user %s not found", id)
		}
		if err != nil {
			return events.Envelope{}, err
		}
		if err := c.seen(r, last.Seq); err != nil {
			return events.Envelope{}, err
		}
		user, ok := c.Users.Get(id)
		if !ok {
			return events.Envelope{}, errorf(http.StatusNotFound, "user %s not found", id)
		}
		e, err := decide(user)
		if err != nil || e == nil {
			return events.Envelope{}, err
		}
		stamp(r, e)
		stored, err := c.Store.Append(r.Context(), *e, eventstore.ExpectLast(last.Seq))
		if errors.Is(err, eventstore.ErrConflict) {
			continue
		}
		if err != nil {
			return events.Envelope{}, err
		}
		return stored, c.seen(r, stored.Seq)
	}
	return events.Envelope{}, errorf(http.StatusConflict, "user %s kept changing; retry", id)
}

// lastAdmin reports whether user is the only enabled admin: removing it
// would leave no one able to manage users and policies.
func (c *ControlCenter) lastAdmin(user projections.User) bool {
	if !user.Enabled || !slices.Contains(user.Roles, auth.RoleAdmin) {
		return false
	}
	enabled := true
	_, n := c.Users.List(projections.UserFilter{Role: auth.RoleAdmin, Enabled: &enabled}, 0, 1)
	return n <= 1
}

// updateUserRequest is the body of PUT /users/{id}: every field optional.
type updateUserRequest struct {
	Email    *string   `json:"email"`
	Roles    *[]string `json:"roles"`
	Enabled  *bool     `json:"enabled"`
	Password *string   `json:"password"`
}

func (q *updateUserRequest) validate(username string) error {
	v := &workflow.ValidationError{}
	if q.Email == nil && q.Roles == nil && q.Enabled == nil && q.Password == nil {
		v.Add("body", "must set at least one of email, roles, enabled, password")
	}
	if q.Email != nil {
		checkEmail(v, *q.Email)
	}
	if q.Roles != nil {
		checkRoles(v, *q.Roles)
	}
	if q.Password != nil {
		email := ""
		if q.Email != nil {
			email = *q.Email
		}
		checkPassword(v, *q.Password, username, email)
	}
	return v.Err()
}

func (c *ControlCenter) updateUser(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	var req updateUserRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := c.freshIAM(r); err != nil {
		writeError(w, r, err)
		return
	}
	current, ok := c.Users.Get(id)
	if !ok {
		writeError(w, r, errorf(http.StatusNotFound, "user %s not found", id))
		return
	}
	if err := req.validate(current.Username); err != nil {
		writeError(w, r, err)
		return
	}
	var hash string
	if req.Password != nil {
		h, err := c.Hasher.Hash(r.Context(), *req.Password)
		if err != nil {
			writeError(w, r, hashError(err))
			return
		}
		hash = h
	}
	var oldEmail, newEmail string
	_, err := c.changeUser(r, id, func(u projections.User) (*events.Envelope, error) {
		d := events.UserUpdatedData{UserID: u.ID, Email: u.Email, Roles: u.Roles, Enabled: u.Enabled, PasswordHash: hash}
		if req.Email != nil {
			d.Email = *req.Email
		}
		if req.Roles != nil {
			d.Roles = append([]string{}, *req.Roles...)
		}
		if req.Enabled != nil {
			d.Enabled = *req.Enabled
		}
		if (!d.Enabled || !slices.Contains(d.Roles, auth.RoleAdmin)) && c.lastAdmin(u) {
			return nil, errorf(http.StatusConflict, "user %s is the last enabled admin; enable another admin first", u.Username)
		}
		d.InvalidateTokens = hash != "" || !d.Enabled
		if d.Email != u.Email && d.Email != "" {
			if err := c.Names.Claim(r.Context(), auth.KindEmail, d.Email, u.ID); err != nil {
				return nil, nameError(err)
			}
			newEmail = d.Email
		}
		oldEmail = u.Email
		if d.Email == u.Email {
			oldEmail = ""
		}
		e, err := events.New(events.UserUpdated, u.ID, d)
		return &e, err
	})
	release := func(email string) {
		if email != "" {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
			defer cancel()
			if err := c.Names.Release(ctx, auth.KindEmail, email, id); err != nil {
				logger(r.Context()).Warn("email claim not released", "user", id, "err", err)
			}
		}
	}
	if err != nil {
		release(newEmail)
		writeError(w, r, err)
		return
	}
	release(oldEmail)
	noteDetail(r, "fields", changedFields(req))
	writeJSON(w, http.StatusOK, "User updated successfully")
}

func changedFields(q updateUserRequest) []string {
	var out []string
	for name, set := range map[string]bool{"email": q.Email != nil, "roles": q.Roles != nil, "enabled": q.Enabled != nil, "password": q.Password != nil} {
		if set {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (c *ControlCenter) deleteUser(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	var gone projections.User
	_, err := c.changeUser(r, id, func(u projections.User) (*events.Envelope, error) {
		if c.lastAdmin(u) {
			return nil, errorf(http.StatusConflict, "user %s is the last enabled admin; enable another admin first", u.Username)
		}
		gone = u
		e, err := events.New(events.UserDeleted, u.ID, events.UserDeletedData{UserID: u.ID, Username: u.Username, Email: u.Email})
		return &e, err
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	for kind, name := range map[string]string{auth.KindUsername: gone.Username, auth.KindEmail: gone.Email} {
		if name == "" {
			continue
		}
		if err := c.Names.Release(ctx, kind, name, id); err != nil {
			logger(r.Context()).Warn("name claim not released; it is taken over when claimed again", "user", id, "kind", kind, "err", err)
		}
	}
	noteDetail(r, "username", gone.Username)
	writeJSON(w, http.StatusOK, "User deleted successfully")
}

type mfaEnrolment struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
}

// enrolMFA makes a new TOTP secret for the user, pending until a code of
// it is verified. A user whose MFA is on cannot enrol again (a stolen
// session must not be able to swap the second factor).
func (c *ControlCenter) enrolMFA(w http.ResponseWriter, r *http.Request) {
	var out mfaEnrolment
	_, err := c.changeUser(r, chi.URLParam(r, "id"), func(u projections.User) (*events.Envelope, error) {
		if u.MFAEnabled {
			return nil, errorf(http.StatusConflict, "MFA is already enabled for user %s", u.Username)
		}
		secret, url, err := auth.NewTOTP(u.Username)
		if err != nil {
			return nil, err
		}
		out = mfaEnrolment{Secret: secret, OTPAuthURL: url}
		e, err := events.New(events.UserMFAEnrolled, u.ID, events.UserMFAEnrolledData{UserID: u.ID, Secret: secret})
		return &e, err
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

type verifyMFARequest struct {
	Code string `json:"code"`
}

// verifyMFA turns MFA on once the caller proves the pending secret with a
// code. The code is consumed: it cannot log in afterwards.
func (c *ControlCenter) verifyMFA(w http.ResponseWriter, r *http.Request) {
	var req verifyMFARequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if len(req.Code) != auth.TOTPDigits || strings.Trim(req.Code, "0123456789") != "" {
		v := &workflow.ValidationError{}
		v.Add("code", "must be the %d-digit code of the authenticator app", auth.TOTPDigits)
		writeError(w, r, v)
		return
	}
	id := chi.URLParam(r, "id")
	if err := c.freshIAM(r); err != nil {
		writeError(w, r, err)
		return
	}
	user, ok := c.Users.Get(id)
	if !ok {
		writeError(w, r, errorf(http.StatusNotFound, "user %s not found", id))
		return
	}
	pending := user.MFAPending
	if pending == "" {
		writeError(w, r, errorf(http.StatusConflict, "no MFA enrolment is pending for user %s; POST /users/%s/mfa first", user.Username, id))
		return
	}
	step, ok := auth.MatchTOTP(pending, req.Code, c.Tokens.Clock())
	if !ok {
		v := &workflow.ValidationError{}
		v.Add("code", "does not match the enrolled secret (check the device's clock)")
		writeError(w, r, v)
		return
	}
	if err := c.Codes.Consume(r.Context(), id, step); err != nil {
		if errors.Is(err, auth.ErrCodeUsed) {
			v := &workflow.ValidationError{}
			v.Add("code", "was used already; wait for the next one")
			err = v
		}
		writeError(w, r, err)
		return
	}
	_, err := c.changeUser(r, id, func(u projections.User) (*events.Envelope, error) {
		if u.MFAPending != pending {
			return nil, errorf(http.StatusConflict, "the MFA enrolment of user %s changed meanwhile; verify a code of the new secret", u.Username)
		}
		e, err := events.New(events.UserMFAEnabled, u.ID, events.UserMFAEnabledData{UserID: u.ID})
		return &e, err
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, "MFA enabled")
}
