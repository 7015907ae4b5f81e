package projections

import (
	"fmt"
	"slices"
	"sync"

	"provisioning/auth"
	"provisioning/events"
	"provisioning/secrets"
)

// Users is the user view, with lookups by id, username and email (both
// case-insensitive). It is safe for concurrent readers; only its runner
// applies events.
type Users struct {
	mu         sync.RWMutex
	byID       map[string]*auth.Account
	byUsername map[string]*auth.Account
	byEmail    map[string]*auth.Account
	order      []*auth.Account // by creation
}

// NewUsers returns an empty user view.
func NewUsers() *Users {
	u := &Users{}
	u.Reset()
	return u
}

// Name implements Projection.
func (u *Users) Name() string { return "users" }

// Reset implements Projection.
func (u *Users) Reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.byID = map[string]*auth.Account{}
	u.byUsername = map[string]*auth.Account{}
	u.byEmail = map[string]*auth.Account{}
	u.order = nil
}

// Apply implements Projection.
func (u *Users) Apply(env events.Envelope) error {
	if env.Aggregate != events.AggUser {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if env.Type == events.UserCreated {
		return u.create(env)
	}
	user, ok := u.byID[env.AggregateID]
	if !ok && env.Type == events.UserLoggedIn {
		return nil // the user was deleted while logging in
	}
	if !ok {
		return fmt.Errorf("%s for unknown user %s (seq %d)", env.Type, env.AggregateID, env.Seq)
	}
	switch env.Type {
	case events.UserUpdated:
		var d events.UserUpdatedData
		if err := env.Decode(&d); err != nil {
			return err
		}
		if u.byEmail[auth.NameKey(user.Email)] == user {
			delete(u.byEmail, auth.NameKey(user.Email))
		}
		user.Email, user.Enabled = d.Email, d.Enabled
		user.Roles = append([]string{}, d.Roles...) // replaced, never modified: Access shares it
		if user.Email != "" {
			u.byEmail[auth.NameKey(user.Email)] = user
		}
		if d.PasswordHash != "" {
			user.PasswordHash = d.PasswordHash
		}
		if d.InvalidateTokens {
			user.TokensValidAfter = env.Time
		}
	case events.UserMFAEnrolled:
		var d events.UserMFAEnrolledData
		if err := env.Decode(&d); err != nil {
			return err
		}
		user.MFAPending = secrets.Stored{Sealed: d.SealedSecret, Plain: d.Secret}
	case events.UserMFAEnabled:
		if user.MFAPending.IsZero() {
			return fmt.Errorf("user %s: MFA enabled without an enrolled secret (seq %d)", user.ID, env.Seq)
		}
		user.MFASecret, user.MFAPending, user.MFAEnabled = user.MFAPending, secrets.Stored{}, true
	case events.UserLoggedIn:
		t := env.Time
		user.LastLogin = &t
		return nil // a login is not an update of the user
	case events.UserDeleted:
		u.remove(user)
		return nil
	default:
		return nil
	}
	user.UpdatedAt = env.Time
	return nil
}

func (u *Users) create(env events.Envelope) error {
	if _, dup := u.byID[env.AggregateID]; dup {
		return fmt.Errorf("user %s created twice (seq %d)", env.AggregateID, env.Seq)
	}
	var d events.UserCreatedData
	if err := env.Decode(&d); err != nil {
		return err
	}
	user := &auth.Account{
		ID: env.AggregateID, Username: d.Username, Email: d.Email, Roles: slices.Clone(d.Roles),
		Enabled: d.Enabled, CreatedAt: env.Time, UpdatedAt: env.Time, PasswordHash: d.PasswordHash,
	}
	if user.Roles == nil {
		user.Roles = []string{}
	}
	u.index(user)
	u.order = append(u.order, user)
	return nil
}

func (u *Users) index(user *auth.Account) {
	u.byID[user.ID] = user
	u.byUsername[auth.NameKey(user.Username)] = user
	if user.Email != "" {
		u.byEmail[auth.NameKey(user.Email)] = user
	}
}

func (u *Users) remove(user *auth.Account) {
	delete(u.byID, user.ID)
	delete(u.byUsername, auth.NameKey(user.Username))
	if u.byEmail[auth.NameKey(user.Email)] == user {
		delete(u.byEmail, auth.NameKey(user.Email))
	}
	u.order = slices.DeleteFunc(u.order, func(x *auth.Account) bool { return x == user })
}

func copyUser(user *auth.Account) auth.Account {
	c := *user
	c.Roles = slices.Clone(user.Roles)
	if user.LastLogin != nil {
		t := *user.LastLogin
		c.LastLogin = &t
	}
	return c
}

// Get returns a copy of one user.
func (u *Users) Get(id string) (auth.Account, bool) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	user, ok := u.byID[id]
	if !ok {
		return auth.Account{}, false
	}
	return copyUser(user), true
}

// ByUsername returns a copy of the user with this username, compared
// case-insensitively.
func (u *Users) ByUsername(name string) (auth.Account, bool) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	user, ok := u.byUsername[auth.NameKey(name)]
	if !ok {
		return auth.Account{}, false
	}
	return copyUser(user), true
}

// ByEmail returns a copy of the user with this email, compared
// case-insensitively.
func (u *Users) ByEmail(email string) (auth.Account, bool) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	user, ok := u.byEmail[auth.NameKey(email)]
	if !ok {
		return auth.Account{}, false
	}
	return copyUser(user), true
}

// Standing returns the account state of user id. The roles slice is the
// view's own and is replaced, never modified, by later events.
func (u *Users) Standing(id string) (auth.Standing, bool) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	user, ok := u.byID[id]
	if !ok {
		return auth.Standing{}, false
	}
	return auth.Standing{Username: user.Username, Roles: user.Roles, Enabled: user.Enabled, TokensValidAfter: user.TokensValidAfter}, true
}

// List returns one page of users in creation order and how many match.
func (u *Users) List(f auth.UserFilter, offset, limit int) ([]auth.Account, int) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	page := make([]auth.Account, 0, min(limit, len(u.order)))
	matched := 0
	for _, user := range u.order {
		if !f.Match(user) {
			continue
		}
		if matched >= offset && len(page) < limit {
			page = append(page, copyUser(user))
		}
		matched++
	}
	return page, matched
}

// All returns every user, in creation order.
func (u *Users) All() []auth.Account {
	u.mu.RLock()
	defer u.mu.RUnlock()
	out := make([]auth.Account, len(u.order))
	for i, user := range u.order {
		out[i] = copyUser(user)
	}
	return out
}

// Count is the number of users.
func (u *Users) Count() int {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return len(u.order)
}

// usersSnapshot is the encoded view; bump usersSnapshotVersion when User
// changes shape.
type usersSnapshot struct {
	Version int
	Users   []*auth.Account
}

const usersSnapshotVersion = 2

// Snapshot implements Projection.
func (u *Users) Snapshot() ([]byte, error) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return encodeSnapshot(usersSnapshot{Version: usersSnapshotVersion, Users: u.order})
}

// Restore implements Projection.
func (u *Users) Restore(data []byte) error {
	var s usersSnapshot
	if err := decodeSnapshot("users", data, &s, &s.Version, usersSnapshotVersion); err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.byID = map[string]*auth.Account{}
	u.byUsername = map[string]*auth.Account{}
	u.byEmail = map[string]*auth.Account{}
	u.order = s.Users
	for _, user := range s.Users {
		if user.Roles == nil {
			user.Roles = []string{}
		}
		u.index(user)
	}
	return nil
}
