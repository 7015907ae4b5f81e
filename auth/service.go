package auth

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/secrets"
)

// UserView is the user view the rules read (*projections.Users).
type UserView interface {
	Get(id string) (Account, bool)
	ByUsername(name string) (Account, bool)
	List(f UserFilter, offset, limit int) ([]Account, int)
}

// PolicyView is the policy view the rules read (*projections.Policies).
type PolicyView interface {
	Get(id string) (Policy, bool)
	All() ([]Policy, uint64)
}

// Consistency is what the rules need of the runner folding PROV_IAM
// (*projections.Runner).
type Consistency interface {
	WaitFor(ctx context.Context, seq uint64) error
	WaitForLatest(ctx context.Context) error
}

// Service holds the rules of identity and access: users (usernames and
// emails unique, never without an enabled admin), MFA enrolment, logins,
// token refresh and logout, and policy changes (never one that locks its
// author out). It decides from the views, appends to PROV_IAM with
// eventstore's Decide, and answers with domain errors (a *Refusal of a
// kind, a *workflow.ValidationError naming fields); it knows no HTTP.
//
// A method that changes something returns once the views of this
// instance hold the change, so the caller's next request sees it. Fill
// the fields, then use it from any goroutine.
type Service struct {
	Store    *eventstore.Store
	Users    UserView
	Policies PolicyView
	View     Consistency
	// ReadWait bounds each wait for the views (default 5 s).
	ReadWait time.Duration

	Hasher        *Hasher
	Names         *Names
	Tokens        *Tokens
	Codes         *CodeGuard
	Revocations   *Revocations
	Authenticator *Authenticator
	Evaluator     *Evaluator
	// Backoff slows the guessing of passwords and MFA codes per account
	// (nil: no limit).
	Backoff *Backoff
	// Secrets seals TOTP secrets, and opens them to check codes.
	Secrets *secrets.Keyring
	Log     *slog.Logger
}

// Caller is who asks: its events record Actor and CorrelationID (the
// request's id); Principal (nil for the system itself) and IP are what a
// policy check about the caller sees.
type Caller struct {
	Principal     *Principal
	Actor         string
	CorrelationID string
	IP            string
}

// failed counts a failed attempt on the account named name; a counter
// that cannot be reached is logged, not the caller's problem.
func (s *Service) failed(name string) {
	if err := s.Backoff.Failed(name); err != nil && s.Log != nil {
		s.Log.Warn("failed attempt not counted for its account", "err", err)
	}
}

// System is the caller of the service's own start-up work.
var System = Caller{Actor: "system"}

func (c Caller) stamp(e *events.Envelope) {
	e.Actor, e.CorrelationID = c.Actor, c.CorrelationID
}

func (s *Service) readWait() time.Duration {
	if s.ReadWait > 0 {
		return s.ReadWait
	}
	return 5 * time.Second
}

// fresh waits until the views hold everything stored before the call.
func (s *Service) fresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.readWait())
	defer cancel()
	return s.View.WaitForLatest(ctx)
}

// WaitFor waits, bounded by ReadWait, until the views have folded seq.
// It implements eventstore.View for the decisions, and lets a change wait
// for its own event even when its caller has gone: the change is made.
func (s *Service) WaitFor(ctx context.Context, seq uint64) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.readWait())
	defer cancel()
	return s.View.WaitFor(ctx, seq)
}

// decide appends what decision builds from the views once they hold the
// fence's last event, expecting that event, and waits until the views
// hold the append. Nothing to append (a nil event) is no error.
func (s *Service) decide(ctx context.Context, f eventstore.Fence, by Caller, decision func(exists bool) (*events.Envelope, error)) (events.Envelope, error) {
	stored, err := s.Store.DecideFolded(ctx, f, s, func(_ events.Envelope, exists bool) (*events.Envelope, error) {
		e, err := decision(exists)
		if e != nil {
			by.stamp(e)
		}
		return e, err
	})
	if err != nil || stored.Seq == 0 {
		return stored, err
	}
	return stored, s.WaitFor(ctx, stored.Seq)
}

// hashError tells a caller who waited too long for a hashing slot to
// retry shortly; any other error is returned as it is.
func hashError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return refuse(ErrBusy, "too many logins at once; retry shortly")
	}
	return err
}

// release frees a name claim of userID after the change that made it
// needless (or failed), without the caller's deadline: a claim left
// behind is only taken over later.
func (s *Service) release(ctx context.Context, kind, name, userID string) {
	if name == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.Names.Release(ctx, kind, name, userID); err != nil && s.Log != nil {
		s.Log.Warn("name claim not released; it is taken over when claimed again", "user", userID, "kind", kind, "err", err)
	}
}
