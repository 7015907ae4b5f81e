package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"provisioning/eventstore"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters (RFC 6238): 30-second steps, 6 digits, SHA-1, and one
// step of skew either way for clocks that drift.
const (
	TOTPPeriod = 30
	TOTPDigits = 6
	TOTPSkew   = 1
	// TOTPIssuer names the service in authenticator apps.
	TOTPIssuer = "provisioning"
)

// ErrCodeUsed: the code was right but has been accepted before.
var ErrCodeUsed = errors.New("one-time code already used")

// NewTOTP makes a secret for account and its otpauth:// URL.
func NewTOTP(account string) (secret, url string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: TOTPIssuer, AccountName: account, Period: TOTPPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", fmt.Errorf("generate TOTP secret: %w", err)
	}
	return key.Secret(), key.URL(), nil
}

// TOTPPurpose binds a sealed TOTP secret to its user.
func TOTPPurpose(userID string) string { return "totp/" + userID }

// MatchTOTP reports the time step whose code code is, among the steps
// within the skew of now, or false. The comparison is constant-time.
func MatchTOTP(secret, code string, now time.Time) (int64, bool) {
	if len(code) != TOTPDigits {
		return 0, false
	}
	opts := totp.ValidateOpts{Period: TOTPPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	step := now.Unix() / TOTPPeriod
	for s := step - TOTPSkew; s <= step+TOTPSkew; s++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*TOTPPeriod, 0), opts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

// UsedCodesBucket is the KV bucket of accepted one-time codes.
const UsedCodesBucket = "PROV_MFA_USED"

// CodeGuard makes one-time codes one-time: the first Consume of a
// (user, step) wins, atomically across instances (a KV create), and the
// record expires once the code could no longer be valid.
type CodeGuard struct {
	kv jetstream.KeyValue
}

// OpenCodeGuard creates or opens the bucket.
func OpenCodeGuard(ctx context.Context, store *eventstore.Store) (*CodeGuard, error) {
	kv, err := store.KeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         UsedCodesBucket,
		Description:    "TOTP codes accepted once, by user and time step",
		History:        1,
		LimitMarkerTTL: time.Minute,
	})
	if err != nil {
		return nil, err
	}
	return &CodeGuard{kv: kv}, nil
}

// usedCodeTTL outlives the window in which a code is accepted (its step,
// plus the skew after it), with a margin for clocks of other instances.
const usedCodeTTL = (2*TOTPSkew+2)*TOTPPeriod*time.Second + 30*time.Second

// Consume records the code of step for user; ErrCodeUsed when it was
// consumed before.
func (g *CodeGuard) Consume(ctx context.Context, userID string, step int64) error {
	key := userID + "." + strconv.FormatInt(step, 10)
	_, err := g.kv.Create(ctx, key, []byte(time.Now().UTC().Format(time.RFC3339)), jetstream.KeyTTL(usedCodeTTL))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return ErrCodeUsed
	}
	if err != nil {
		return fmt.Errorf("record one-time code: %w", err)
	}
	return nil
}
