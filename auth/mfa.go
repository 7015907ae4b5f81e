package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"provisioning/events"
	"provisioning/workflow"
)

// MFAEnrolment is a new TOTP secret, pending until a code of it is
// verified.
type MFAEnrolment struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
}

// EnrolMFA makes a new TOTP secret for the user, pending until VerifyMFA.
// A user whose MFA is on cannot enrol again (ErrMFAEnabled): a stolen
// session must not be able to swap the second factor.
func (s *Service) EnrolMFA(ctx context.Context, by Caller, id string) (MFAEnrolment, error) {
	var out MFAEnrolment
	_, err := s.changeUser(ctx, by, id, func(u Account) (*events.Envelope, error) {
		if u.MFAEnabled {
			return nil, refuse(ErrMFAEnabled, "MFA is already enabled for user %s", u.Username)
		}
		secret, url, err := NewTOTP(u.Username)
		if err != nil {
			return nil, err
		}
		sealed, err := s.Secrets.SealString(TOTPPurpose(u.ID), secret)
		if err != nil {
			return nil, err
		}
		out = MFAEnrolment{Secret: secret, OTPAuthURL: url}
		e, err := events.New(events.UserMFAEnrolled, u.ID, events.UserMFAEnrolledData{UserID: u.ID, SealedSecret: sealed})
		return &e, err
	})
	if err != nil {
		return MFAEnrolment{}, err
	}
	return out, nil
}

// VerifyMFA turns MFA on once code proves the pending secret. The code
// is consumed: it cannot log in afterwards. A malformed, wrong or used
// code is a *workflow.ValidationError on "code".
func (s *Service) VerifyMFA(ctx context.Context, by Caller, id, code string) error {
	if len(code) != TOTPDigits || strings.Trim(code, "0123456789") != "" {
		return codeError("must be the %d-digit code of the authenticator app", TOTPDigits)
	}
	if err := s.fresh(ctx); err != nil {
		return err
	}
	user, ok := s.Users.Get(id)
	if !ok {
		return userNotFound(id)
	}
	if err := s.Backoff.Locked(user.Username); err != nil {
		return err
	}
	pending := user.MFAPending
	if pending.IsZero() {
		return refuse(ErrNoMFAEnrolment, "no MFA enrolment is pending for user %s; POST /users/%s/mfa first", user.Username, id)
	}
	secret, err := s.Secrets.OpenStored(TOTPPurpose(user.ID), pending)
	if err != nil {
		return fmt.Errorf("the pending TOTP secret of user %s: %w", user.ID, err)
	}
	step, ok := MatchTOTP(string(secret), code, s.Tokens.Clock())
	if !ok {
		s.failed(user.Username)
		return codeError("does not match the enrolled secret (check the device's clock)")
	}
	if err := s.Codes.Consume(ctx, id, step); err != nil {
		if errors.Is(err, ErrCodeUsed) {
			return codeError("was used already; wait for the next one")
		}
		return err
	}
	_, err = s.changeUser(ctx, by, id, func(u Account) (*events.Envelope, error) {
		if u.MFAPending != pending {
			return nil, refuse(ErrMFAEnrolmentChanged, "the MFA enrolment of user %s changed meanwhile; verify a code of the new secret", u.Username)
		}
		e, err := events.New(events.UserMFAEnabled, u.ID, events.UserMFAEnabledData{UserID: u.ID})
		return &e, err
	})
	return err
}

func codeError(format string, args ...any) error {
	v := &workflow.ValidationError{}
	v.Add("code", format, args...)
	return v
}
