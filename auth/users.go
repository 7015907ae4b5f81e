package auth

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/workflow"
)

// Bounds of user fields. Past the username's and the email's no account
// can match, so a login with a longer one is refused before any hashing.
const (
	MaxUsernameLen = 64
	MaxEmailLen    = 254
	MaxRoles       = 16
	// UsernamePattern and RolePattern are the forms of usernames and role
	// names.
	UsernamePattern = `^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$`
	RolePattern     = `^[a-z][a-z0-9_-]{0,31}$`
)

var (
	usernameForm = regexp.MustCompile(UsernamePattern)
	roleForm     = regexp.MustCompile(RolePattern)
)

func checkEmail(v *workflow.ValidationError, email string) {
	if email == "" {
		return
	}
	addr, err := mail.ParseAddress(email)
	switch {
	case len(email) > MaxEmailLen:
		v.Add("email", "must be at most %d characters", MaxEmailLen)
	case err != nil || addr.Address != email:
		v.Add("email", "must be a plain address like name@example.com")
	}
}

func checkRoles(v *workflow.ValidationError, roles []string) {
	if len(roles) > MaxRoles {
		v.Add("roles", "must hold at most %d roles", MaxRoles)
		return
	}
	for i, role := range roles {
		switch {
		case !roleForm.MatchString(role):
			v.Add(fmt.Sprintf("roles[%d]", i), "must be a lower-case name (built-in: admin, operator, viewer)")
		case slices.Index(roles, role) != i:
			v.Add(fmt.Sprintf("roles[%d]", i), "repeats %q", role)
		}
	}
}

func checkNewPassword(v *workflow.ValidationError, password, username, email string) {
	if err := CheckPassword(password, username, email); err != nil {
		v.Add("password", "%s", err.Error())
	}
}

// CreateUserRequest is the body of POST /users.
type CreateUserRequest struct {
	Username string   `json:"username"`
	Email    string   `json:"email"`
	Password string   `json:"password"`
	Roles    []string `json:"roles"`
	Enabled  *bool    `json:"enabled"`
}

// NewUser is a user about to be created: a CreateUserRequest that passed
// its checks, with the id it will have. Only CreateUserRequest.User makes
// one.
type NewUser struct {
	ID       string
	Username string
	Email    string
	Roles    []string
	Enabled  bool
	password string
}

// User checks the request and returns the user it creates under id, or a
// *workflow.ValidationError naming every bad field.
func (q CreateUserRequest) User(id string) (NewUser, error) {
	v := &workflow.ValidationError{}
	if !usernameForm.MatchString(q.Username) {
		v.Add("username", "must be 2 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	checkEmail(v, q.Email)
	if q.Password == "" {
		v.Add("password", "is required")
	} else {
		checkNewPassword(v, q.Password, q.Username, q.Email)
	}
	checkRoles(v, q.Roles)
	if err := v.Err(); err != nil {
		return NewUser{}, err
	}
	u := NewUser{ID: id, Username: q.Username, Email: q.Email, Roles: q.Roles, Enabled: q.Enabled == nil || *q.Enabled, password: q.Password}
	if u.Roles == nil {
		u.Roles = []string{}
	}
	return u, nil
}

// UserCreated is the answer of a creation.
type UserCreated struct {
	ID       string   `json:"id"`
	Username string   `json:"username"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
	Enabled  bool     `json:"enabled"`
}

// CreateUser claims the user's username and email (ErrUsernameTaken,
// ErrEmailTaken when another user holds one), hashes the password and
// appends UserCreated. A failure after a claim releases it.
func (s *Service) CreateUser(ctx context.Context, by Caller, u NewUser) (UserCreated, error) {
	if u.password == "" {
		return UserCreated{}, errors.New("create user: not checked (make it with CreateUserRequest.User)")
	}
	if err := s.claim(ctx, KindUsername, u.Username, u.ID); err != nil {
		return UserCreated{}, err
	}
	stored, err := s.createUser(ctx, by, u)
	if err != nil {
		s.release(ctx, KindUsername, u.Username, u.ID)
		s.release(ctx, KindEmail, u.Email, u.ID)
		return UserCreated{}, err
	}
	if err := s.WaitFor(ctx, stored.Seq); err != nil {
		return UserCreated{}, err
	}
	return UserCreated{ID: u.ID, Username: u.Username, Email: u.Email, Roles: u.Roles, Enabled: u.Enabled}, nil
}

func (s *Service) createUser(ctx context.Context, by Caller, u NewUser) (events.Envelope, error) {
	if u.Email != "" {
		if err := s.claim(ctx, KindEmail, u.Email, u.ID); err != nil {
			return events.Envelope{}, err
		}
	}
	hash, err := s.Hasher.Hash(ctx, u.password)
	if err != nil {
		return events.Envelope{}, hashError(err)
	}
	e, err := events.New(events.UserCreated, u.ID, events.UserCreatedData{UserID: u.ID, Username: u.Username, Email: u.Email,
		Roles: u.Roles, Enabled: u.Enabled, PasswordHash: hash})
	if err != nil {
		return events.Envelope{}, err
	}
	by.stamp(&e)
	stored, err := s.Store.Append(ctx, e, eventstore.ExpectLast(0))
	if err != nil {
		return events.Envelope{}, fmt.Errorf("create user %s: %w", u.Username, err)
	}
	return stored, nil
}

// claim gives a name to userID, refusing with ErrUsernameTaken or
// ErrEmailTaken when another user holds it.
func (s *Service) claim(ctx context.Context, kind, name, userID string) error {
	err := s.Names.Claim(ctx, kind, name, userID)
	if !errors.Is(err, ErrTaken) {
		return err
	}
	taken := ErrUsernameTaken
	if kind == KindEmail {
		taken = ErrEmailTaken
	}
	return refuse(taken, "%s by another user", err.Error())
}

// UpdateUserRequest is the body of PUT /users/{id}: every field optional.
type UpdateUserRequest struct {
	Email    *string   `json:"email"`
	Roles    *[]string `json:"roles"`
	Enabled  *bool     `json:"enabled"`
	Password *string   `json:"password"`
}

func (q UpdateUserRequest) check(username, currentEmail string) error {
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
		email := currentEmail
		if q.Email != nil {
			email = *q.Email
		}
		checkNewPassword(v, *q.Password, username, email)
	}
	return v.Err()
}

// Fields names the fields the request sets, sorted.
func (q UpdateUserRequest) Fields() []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"email", q.Email != nil}, {"enabled", q.Enabled != nil}, {"password", q.Password != nil}, {"roles", q.Roles != nil}} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// UpdateUser changes a user. A new email is claimed first (and the old
// one released once the change is stored); a new password or a disable
// invalidates the user's tokens. Taking the admin role from, or
// disabling, the last enabled admin is refused (ErrLastAdmin).
func (s *Service) UpdateUser(ctx context.Context, by Caller, id string, q UpdateUserRequest) error {
	if err := s.fresh(ctx); err != nil {
		return err
	}
	current, ok := s.Users.Get(id)
	if !ok {
		return userNotFound(id)
	}
	if err := q.check(current.Username, current.Email); err != nil {
		return err
	}
	var hash string
	if q.Password != nil {
		h, err := s.Hasher.Hash(ctx, *q.Password)
		if err != nil {
			return hashError(err)
		}
		hash = h
	}
	var oldEmail, newEmail string
	_, err := s.changeUser(ctx, by, id, func(u Account) (*events.Envelope, error) {
		d := events.UserUpdatedData{UserID: u.ID, Email: u.Email, Roles: u.Roles, Enabled: u.Enabled, PasswordHash: hash}
		if q.Email != nil {
			d.Email = *q.Email
		}
		if q.Roles != nil {
			d.Roles = append([]string{}, *q.Roles...)
		}
		if q.Enabled != nil {
			d.Enabled = *q.Enabled
		}
		if after := (Account{Enabled: d.Enabled, Roles: d.Roles}); !after.IsAdmin() && s.lastAdmin(u) {
			return nil, lastAdminRefusal(u)
		}
		d.InvalidateTokens = hash != "" || !d.Enabled
		oldEmail = ""
		if d.Email != u.Email {
			if d.Email != "" {
				if err := s.claim(ctx, KindEmail, d.Email, u.ID); err != nil {
					return nil, err
				}
				newEmail = d.Email
			}
			oldEmail = u.Email
		}
		e, err := events.New(events.UserUpdated, u.ID, d)
		return &e, err
	})
	if err != nil {
		s.release(ctx, KindEmail, newEmail, id)
		return err
	}
	s.release(ctx, KindEmail, oldEmail, id)
	return nil
}

// PasswordChange is the body of PUT /users/{id}/password.
type PasswordChange struct {
	CurrentPassword string `json:"current_password"`
	Password        string `json:"password"`
}

// ChangePassword sets a user's password once the current one is proven:
// users change their own this way (admins set others' with UpdateUser).
// A wrong current password is a *workflow.ValidationError on
// "current_password" and counts against the account like a failed login
// (Backoff); the change ends every session issued before it.
func (s *Service) ChangePassword(ctx context.Context, by Caller, id string, q PasswordChange) error {
	if err := s.fresh(ctx); err != nil {
		return err
	}
	user, ok := s.Users.Get(id)
	if !ok {
		return userNotFound(id)
	}
	v := &workflow.ValidationError{}
	if q.CurrentPassword == "" {
		v.Add("current_password", "is required: the password to change")
	}
	checkNewPassword(v, q.Password, user.Username, user.Email)
	if err := v.Err(); err != nil {
		return err
	}
	if err := s.Backoff.Locked(user.Username); err != nil {
		return err
	}
	if err := s.Hasher.Verify(ctx, user.PasswordHash, q.CurrentPassword); err != nil {
		if !errors.Is(err, ErrMismatch) {
			return hashError(err)
		}
		s.failed(user.Username)
		v.Add("current_password", "is not the user's password")
		return v
	}
	hash, err := s.Hasher.Hash(ctx, q.Password)
	if err != nil {
		return hashError(err)
	}
	_, err = s.changeUser(ctx, by, id, func(u Account) (*events.Envelope, error) {
		if u.PasswordHash != user.PasswordHash {
			return nil, refuse(eventstore.ErrConflict, "the password of user %s changed meanwhile", u.Username)
		}
		e, err := events.New(events.UserUpdated, u.ID, events.UserUpdatedData{UserID: u.ID, Email: u.Email, Roles: u.Roles,
			Enabled: u.Enabled, PasswordHash: hash, InvalidateTokens: true})
		return &e, err
	})
	return err
}

// DeleteUser deletes a user and frees its username and email; the last
// enabled admin is not deleted (ErrLastAdmin). It returns the user as it
// was.
func (s *Service) DeleteUser(ctx context.Context, by Caller, id string) (Account, error) {
	var gone Account
	_, err := s.changeUser(ctx, by, id, func(u Account) (*events.Envelope, error) {
		if s.lastAdmin(u) {
			return nil, lastAdminRefusal(u)
		}
		gone = u
		e, err := events.New(events.UserDeleted, u.ID, events.UserDeletedData{UserID: u.ID, Username: u.Username, Email: u.Email})
		return &e, err
	})
	if err != nil {
		return Account{}, err
	}
	s.release(ctx, KindUsername, gone.Username, id)
	s.release(ctx, KindEmail, gone.Email, id)
	return gone, nil
}

func userNotFound(id string) error { return refuse(ErrNotFound, "user %s not found", id) }

func lastAdminRefusal(u Account) error {
	return refuse(ErrLastAdmin, "user %s is the last enabled admin; enable another admin first", u.Username)
}

// changeUser appends the event decision builds from the user's current
// state, expecting that state: when the user changed meanwhile (a login
// counts) it decides again from the new state. decision may return a nil
// event: nothing to do. A missing or deleted user is ErrNotFound.
func (s *Service) changeUser(ctx context.Context, by Caller, id string, decision func(Account) (*events.Envelope, error)) (events.Envelope, error) {
	if !events.ValidID(id) {
		return events.Envelope{}, userNotFound(id)
	}
	stored, err := s.decide(ctx, eventstore.FenceOf(events.AggUser, id), by, func(exists bool) (*events.Envelope, error) {
		user, ok := s.Users.Get(id)
		if !exists || !ok {
			return nil, userNotFound(id)
		}
		return decision(user)
	})
	if errors.Is(err, eventstore.ErrConflict) {
		return events.Envelope{}, refuse(eventstore.ErrConflict, "user %s kept changing; retry", id)
	}
	return stored, err
}

// lastAdmin reports whether u is the only enabled admin: removing it
// would leave no one able to manage users and policies.
func (s *Service) lastAdmin(u Account) bool {
	if !u.IsAdmin() {
		return false
	}
	enabled := true
	_, n := s.Users.List(UserFilter{Role: RoleAdmin, Enabled: &enabled}, 0, 1)
	return n <= 1
}
