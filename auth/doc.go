// Package auth is identity and access: argon2id password hashes with a
// bound on concurrent hashing, EdDSA tokens and their revocation, TOTP
// codes that are accepted once, unique usernames and emails, and the
// evaluation of access policies written in CEL.
//
// It knows no HTTP. The views it reads (users, policies, signing keys) are
// folded by package projections; the shared state that must be decided
// atomically across instances (revocations, used codes, name claims) lives
// in JetStream KV buckets.
package auth
