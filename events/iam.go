package events

import "time"

// Identity aggregates. They live in PROV_IAM, apart from the work history:
// who may do what is not part of what was done.
const (
	AggUser       Aggregate = "user"
	AggPolicy     Aggregate = "policy"
	AggSigningKey Aggregate = "signingkey"
)

// User events.
const (
	UserCreated     Type = "UserCreated"
	UserUpdated     Type = "UserUpdated"
	UserDeleted     Type = "UserDeleted"
	UserMFAEnrolled Type = "UserMFAEnrolled"
	UserMFAEnabled  Type = "UserMFAEnabled"
	UserLoggedIn    Type = "UserLoggedIn"
)

// Policy events.
const (
	PolicyCreated Type = "PolicyCreated"
	PolicyUpdated Type = "PolicyUpdated"
	PolicyDeleted Type = "PolicyDeleted"
)

// SigningKeyCreated records a token signing key. The first start of the
// first instance appends it; every other instance and restart reads it.
const SigningKeyCreated Type = "SigningKeyCreated"

// PrimarySigningKey is the aggregate id of the signing key every instance
// shares. It is appended with ExpectLast(0), so two instances starting for
// the first time at once agree on one key.
const PrimarySigningKey = "primary"

func init() {
	register(AggUser, UserCreated, UserUpdated, UserDeleted, UserMFAEnrolled, UserMFAEnabled, UserLoggedIn)
	register(AggPolicy, PolicyCreated, PolicyUpdated, PolicyDeleted)
	register(AggSigningKey, SigningKeyCreated)
	for _, agg := range []Aggregate{AggUser, AggPolicy, AggSigningKey} {
		aggregateStream[agg] = IAMStream
	}
}

// UserCreatedData is the payload of UserCreated. PasswordHash is an
// argon2id PHC string; the plain password is never stored.
type UserCreatedData struct {
	UserID       string   `json:"user_id"`
	Username     string   `json:"username"`
	Email        string   `json:"email"`
	PasswordHash string   `json:"password_hash"`
	Roles        []string `json:"roles"`
	Enabled      bool     `json:"enabled"`
}

// UserUpdatedData is the payload of UserUpdated: the new values of every
// field an update may change; PasswordHash is set when the password
// changes. InvalidateTokens makes every token issued before the event
// unusable (set when a user is disabled or its password changes).
type UserUpdatedData struct {
	UserID           string   `json:"user_id"`
	Email            string   `json:"email"`
	Roles            []string `json:"roles"`
	Enabled          bool     `json:"enabled"`
	PasswordHash     string   `json:"password_hash,omitempty"`
	InvalidateTokens bool     `json:"invalidate_tokens,omitempty"`
}

// UserDeletedData is the payload of UserDeleted. The user's tokens die
// with it.
type UserDeletedData struct {
	UserID   string `json:"user_id"`
	Username string `json:"username"`
	Email    string `json:"email"`
}

// UserMFAEnrolledData is the payload of UserMFAEnrolled: a new TOTP secret
// (base32), pending until a code of it is verified. SealedSecret holds it
// sealed with the deployment's secrets key (package secrets); Secret, the
// secret in the clear, is only in events written before sealing existed
// and is still read.
type UserMFAEnrolledData struct {
	UserID       string `json:"user_id"`
	SealedSecret string `json:"sealed_secret,omitempty"`
	Secret       string `json:"secret,omitempty"`
}

// UserMFAEnabledData is the payload of UserMFAEnabled: the pending secret
// becomes the one logins must prove.
type UserMFAEnabledData struct {
	UserID string `json:"user_id"`
}

// UserLoggedInData is the payload of UserLoggedIn; the event's time is
// the user's last login.
type UserLoggedInData struct {
	UserID  string `json:"user_id"`
	TokenID string `json:"token_id"`
}

// PolicyRule is one rule of a policy: Effect "Allow" or "Deny" on
// Resource "kind:pattern" for the listed actions, when Condition (a CEL
// expression, empty for always) holds.
type PolicyRule struct {
	Effect    string   `json:"effect"`
	Resource  string   `json:"resource"`
	Action    []string `json:"action"`
	Condition string   `json:"condition,omitempty"`
}

// PolicyCreatedData is the payload of PolicyCreated and, with the new
// values of every field, of PolicyUpdated.
type PolicyCreatedData struct {
	PolicyID    string       `json:"policy_id"`
	Name        string       `json:"name"`
	Version     string       `json:"version"`
	Description string       `json:"description,omitempty"`
	Rules       []PolicyRule `json:"rules"`
	Enabled     bool         `json:"enabled"`
}

// PolicyUpdatedData is the payload of PolicyUpdated.
type PolicyUpdatedData = PolicyCreatedData

// PolicyDeletedData is the payload of PolicyDeleted.
type PolicyDeletedData struct {
	PolicyID string `json:"policy_id"`
}

// SigningKeyCreatedData is the payload of SigningKeyCreated: an Ed25519
// key pair (the 32-byte seed, sealed with the deployment's secrets key,
// and the public key, base64 in JSON) and the key id tokens name in their
// kid header. Seed, the seed in the clear, is only in events written
// before sealing existed and is still read.
type SigningKeyCreatedData struct {
	KeyID      string    `json:"key_id"`
	Algorithm  string    `json:"algorithm"`
	SealedSeed string    `json:"sealed_seed,omitempty"`
	Seed       []byte    `json:"seed,omitempty"`
	PublicKey  []byte    `json:"public_key"`
	NotBefore  time.Time `json:"not_before"`
}
