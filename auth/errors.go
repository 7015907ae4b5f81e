package auth

import (
	"errors"
	"fmt"
)

// The refusals of the identity rules. Every one comes wrapped in a
// *Refusal whose message is meant for the caller; test the kind with
// errors.Is.
var (
	// ErrNotFound: no such user or policy (or it was deleted).
	ErrNotFound = errors.New("not found")
	// ErrLastAdmin: the change would leave no enabled admin, and so no
	// one able to manage users and policies.
	ErrLastAdmin = errors.New("the last enabled admin")
	// ErrUsernameTaken and ErrEmailTaken: another user holds the name.
	// Both are an ErrTaken.
	ErrUsernameTaken = fmt.Errorf("username %w", ErrTaken)
	ErrEmailTaken    = fmt.Errorf("email %w", ErrTaken)
	// ErrMFAEnabled: MFA is on already; enrolling again would let a
	// stolen session swap the second factor.
	ErrMFAEnabled = errors.New("MFA is already enabled")
	// ErrNoMFAEnrolment: there is no pending secret to verify a code of.
	ErrNoMFAEnrolment = errors.New("no MFA enrolment is pending")
	// ErrMFAEnrolmentChanged: the pending secret was replaced while a code
	// of the old one was being verified.
	ErrMFAEnrolmentChanged = errors.New("the MFA enrolment changed")
	// ErrBadCredentials: a login failed. It never says which of the
	// username, the password or the code was wrong.
	ErrBadCredentials = errors.New("invalid username, password or MFA code")
	// ErrOtherUser: a token of another user was given to refresh.
	ErrOtherUser = errors.New("the token belongs to another user")
	// ErrBusy: every password hashing slot stayed taken until the caller
	// gave up; retrying shortly will do.
	ErrBusy = errors.New("too many password checks at once")
)

// Refusal is a decision's no: Kind is the sentinel it answers to
// (errors.Is), Message the sentence the caller is told. Nothing in it is
// secret.
type Refusal struct {
	Kind    error
	Message string
}

func (r *Refusal) Error() string { return r.Message }

// Unwrap returns the kind.
func (r *Refusal) Unwrap() error { return r.Kind }

// refuse builds a *Refusal of kind.
func refuse(kind error, format string, args ...any) error {
	return &Refusal{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// LoginRefused is a failed login: ErrBadCredentials to the caller, with
// the reason and the user it concerns (when the username is known) for
// the audit log only; or, when Lockout is set, a login of a locked
// account (ErrAccountLocked, whether the account exists or not).
type LoginRefused struct {
	UserID  string
	Reason  string
	Lockout *Lockout
}

func (e *LoginRefused) Error() string {
	if e.Lockout != nil {
		return e.Lockout.Error()
	}
	return ErrBadCredentials.Error()
}

// Unwrap returns the Lockout, or ErrBadCredentials.
func (e *LoginRefused) Unwrap() error {
	if e.Lockout != nil {
		return e.Lockout
	}
	return ErrBadCredentials
}
