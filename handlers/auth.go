package handlers

import (
	"net/http"
	"strings"
)

// Principal is who a request acts for.
type Principal struct {
	ID       string
	Username string
	Roles    []string
}

// Authenticator checks a request's credentials. Implementations take the
// token from BearerToken; an error means 401. The error is never shown
// to the client nor logged (it may quote the token).
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

// BearerToken is the request's token: the Authorization header's Bearer
// credentials, else the token query parameter (browsers cannot set
// headers on a WebSocket).
func BearerToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
		return ""
	}
	return r.URL.Query().Get("token")
}
