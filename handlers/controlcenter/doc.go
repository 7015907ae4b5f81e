// Package controlcenter is the control center API on :9080: sessions
// (login, refresh, logout), users and their MFA, policies, the audit log
// and the token keys.
//
// Its routes are all in API.Handler, each with its protection. A handler
// decodes the request, makes one call into auth.Service (or reads a view)
// and encodes the answer; the rules of identity and access, and their
// errors, are package auth's.
package controlcenter
