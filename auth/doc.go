// Package auth is identity and access: who the users are and what they
// may do, decided once for both APIs.
//
// Its rules live in Service: users whose usernames and emails are unique
// and among whom an enabled admin always remains, MFA enrolment and
// verification, logins, token refresh and logout, and policy changes
// that never lock their author out. A rule decides from the identity
// views, appends to PROV_IAM with eventstore's Decide and answers with a
// domain error (a *Refusal of a kind such as ErrLastAdmin or
// ErrUsernameTaken, a *LoginRefused, a *workflow.ValidationError naming
// fields); the HTTP layer turns those into statuses.
//
// Its mechanisms are the rest: argon2id password hashes with a bound on
// concurrent hashing, EdDSA tokens and their revocation, TOTP codes
// accepted once, claims on usernames and emails, the Authenticator that
// turns a token into a Principal, and the Evaluator of access policies
// written in CEL (whose condition types are named after this package:
// auth.User, auth.Request, auth.Resource).
//
// It knows no HTTP and imports no view: the types the views fold into
// (Account, Standing, Policy) are defined here, and package projections
// folds them; the shared state that must be decided atomically across
// instances (revocations, used codes, name claims) lives in JetStream KV
// buckets.
package auth
