package handlers

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"provisioning/auth"
	"provisioning/events"
	"provisioning/eventstore"
)

// Access guards both APIs: it authenticates the caller, asks the policies,
// and audits. One Access serves both routers.
type Access struct {
	Auth     *auth.Authenticator
	Policies *auth.Evaluator
	Audit    *Auditor
	// Limits rate-limits requests (nil: no limits).
	Limits *Limiters
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// when they are the TCP peer; any other peer is the client.
	TrustedProxies []netip.Prefix
}

type principalKey struct{}

// PrincipalFrom returns the authenticated caller of a request that passed
// the guard (false on open routes).
func PrincipalFrom(ctx context.Context) (auth.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(auth.Principal)
	return p, ok
}

// WithPrincipal returns ctx carrying p (for handlers tested without the
// guard, and for the guard itself).
func WithPrincipal(ctx context.Context, p auth.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// errUnauthenticated is the one message a refused token gets; the reason
// goes to the log only.
const errUnauthenticated = "authentication required: send a valid token as Authorization: Bearer <token>"

// Authenticate reads the bearer token of r (the Authorization header, or,
// when allowQuery, a WebSocket bearer subprotocol or ?token=) and
// verifies it. The WebSocket endpoint may
// call it itself; every other route has it done by the guard.
func (a *Access) Authenticate(r *http.Request, allowQuery bool) (auth.Principal, error) {
	token, err := bearer(r, allowQuery)
	if err != nil {
		return auth.Principal{}, err
	}
	return a.Auth.Authenticate(r.Context(), token)
}

func bearer(r *http.Request, allowQuery bool) (string, error) {
	h := r.Header.Get("Authorization")
	if h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return "", fmt.Errorf("%w: Authorization is not a bearer token", auth.ErrInvalidToken)
		}
		return strings.TrimSpace(token), nil
	}
	if allowQuery {
		if t, ok, err := protocolToken(r); ok || err != nil {
			return t, err
		}
		if t := r.URL.Query().Get("token"); t != "" {
			return t, nil
		}
	}
	return "", fmt.Errorf("%w: no token", auth.ErrInvalidToken)
}

// WebSocket subprotocols. Browsers cannot give a WebSocket headers, and a
// token in the URL ends up in histories and proxy logs; so a page sends
// its token as a subprotocol, WSBearerProtocol followed by the token in
// unpadded base64url (the convention of Kubernetes), beside WSProtocol.
// The server answers with WSProtocol alone: the token is never echoed.
const (
	WSProtocol       = "provisioning.v1"
	WSBearerProtocol = "base64url.bearer.provisioning."
)

// protocolToken reads a token sent as a WebSocket subprotocol
// (WSBearerProtocol followed by the token in unpadded base64url).
func protocolToken(r *http.Request) (token string, ok bool, err error) {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			enc, found := strings.CutPrefix(strings.TrimSpace(p), WSBearerProtocol)
			if !found {
				continue
			}
			raw, err := base64.RawURLEncoding.DecodeString(enc)
			if err != nil || len(raw) == 0 {
				return "", true, fmt.Errorf("%w: the bearer subprotocol is not unpadded base64url", auth.ErrInvalidToken)
			}
			return string(raw), true, nil
		}
	}
	return "", false, nil
}

// ClientIP is the address the request came from: the TCP peer, or, when
// the peer is a trusted proxy, the nearest untrusted address of
// X-Forwarded-For (resolved once by the guard).
func ClientIP(r *http.Request) string {
	if ip := middleware.GetClientIP(r.Context()); ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientIPs resolves the client address of every request before anything
// else looks at it.
func (a *Access) clientIPs(next http.Handler) http.Handler {
	if a == nil || len(a.TrustedProxies) == 0 {
		return middleware.ClientIPFromRemoteAddr(next)
	}
	prefixes := make([]string, len(a.TrustedProxies))
	for i, p := range a.TrustedProxies {
		prefixes[i] = p.String()
	}
	return middleware.ClientIPFromXFF(prefixes...)(next)
}

func routePath(r *http.Request) string {
	if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePath != "" {
		return rctx.RoutePath
	}
	if r.URL.RawPath != "" {
		return r.URL.RawPath
	}
	return r.URL.Path
}

// Guard is the access middleware of a router: it finds the route the
// request will take, looks up the protection it was mounted with, and
// lets the request through only when the route is open or the caller
// authenticates and a policy allows. Refusals are audited; so is every
// mutating request, before it is answered. Unknown paths and methods pass
// to the router's 404 and 405.
func (a *Access) Guard(mux *Mux) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return a.clientIPs(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rctx := chi.NewRouteContext()
			pattern := mux.Find(rctx, r.Method, routePath(r))
			if pattern == "" {
				next.ServeHTTP(w, r)
				return
			}
			route, ok := mux.Protection(r.Method + " " + pattern)
			if !ok {
				Logger(r.Context()).Error("route mounted without a protection: refused", "method", r.Method, "route", pattern)
				WriteError(w, r, Errorf(http.StatusForbidden, "%s %s has no access rule", r.Method, pattern))
				return
			}
			if route.Open {
				if route.Limit != "" && a.limits().limited(w, r, route.Limit, ClientIP(r)) {
					return
				}
				next.ServeHTTP(w, r)
				return
			}
			if a == nil || a.Auth == nil || a.Policies == nil {
				WriteError(w, r, Errorf(http.StatusServiceUnavailable, "access control is not configured"))
				return
			}
			a.protect(w, r, route, rctx.URLParam("id"), next)
		}))
	}
}

func (a *Access) limits() *Limiters {
	if a == nil {
		return nil
	}
	return a.Limits
}

func (a *Access) protect(w http.ResponseWriter, r *http.Request, route Route, id string, next http.Handler) {
	resource := route.Kind
	if id != "" {
		resource += "/" + id
	}
	p, err := a.Authenticate(r, route.QueryToken)
	if err != nil {
		// Guessing tokens has a budget of its own per address, apart
		// from logins: it must not lock out the people behind it.
		if a.Limits.limited(w, r, "token", ClientIP(r)) {
			return
		}
		Logger(r.Context()).Info("unauthenticated", "route", route.Audit, "reason", err)
		rec := events.AuditRecordedData{Action: route.Audit, Resource: resource, Result: events.AuditDenied,
			Details: map[string]any{"reason": "unauthenticated", "status": http.StatusUnauthorized}}
		if err := a.Record(r, rec); err != nil {
			WriteError(w, r, err)
			return
		}
		e := Errorf(http.StatusUnauthorized, errUnauthenticated)
		e.Header = http.Header{"WWW-Authenticate": {challenge(r)}}
		WriteError(w, r, e)
		return
	}
	checks := []limitCheck{{"general", p.UserID}}
	if route.Limit != "" {
		checks = append(checks, limitCheck{route.Limit, limitKey(route.Limit, r, p)})
	}
	if a.Limits.limitedAll(w, r, checks...) {
		return
	}
	ctx := WithPrincipal(r.Context(), p)
	r = r.WithContext(ctx)
	in := auth.Input{
		User:     p.Subject(),
		Request:  auth.Request{Method: r.Method, Path: r.URL.Path, IP: ClientIP(r), Action: route.Action},
		Resource: auth.Resource{Kind: route.Kind, ID: id},
	}
	if d := a.Policies.Decide(in); !d.Allowed {
		rec := events.AuditRecordedData{UserID: p.UserID, Action: route.Audit, Resource: resource, Result: events.AuditDenied,
			Details: map[string]any{"reason": d.Reason, "status": http.StatusForbidden}}
		if err := a.Record(r, rec); err != nil {
			WriteError(w, r, err)
			return
		}
		WriteError(w, r, Errorf(http.StatusForbidden, "permission denied: %s may not %s %s", p.Username, route.Action, resource))
		return
	}
	if !Mutates(r.Method) {
		next.ServeHTTP(w, r)
		return
	}
	a.audited(w, r, p, route, resource, next)
}

// limitKey is who a limit counts: the client IP for authentication, the
// user otherwise.
func limitKey(limit string, r *http.Request, p auth.Principal) string {
	if limit == "auth" {
		return ClientIP(r)
	}
	return p.UserID
}

// challenge is the WWW-Authenticate of a 401 (RFC 6750).
func challenge(r *http.Request) string {
	_, subprotocol, _ := protocolToken(r)
	if r.Header.Get("Authorization") != "" || r.URL.Query().Has("token") || subprotocol {
		return `Bearer realm="provisioning", error="invalid_token"`
	}
	return `Bearer realm="provisioning"`
}

// audited runs a mutating request into a buffer, appends its audit record
// (success for 2xx and 3xx, failure otherwise), and only then answers: if
// the record cannot be written the client is told so, never a bare
// success.
func (a *Access) audited(w http.ResponseWriter, r *http.Request, p auth.Principal, route Route, resource string, next http.Handler) {
	note := &auditNote{resource: resource, details: map[string]any{}}
	buf := &bufferedResponse{header: w.Header(), status: http.StatusOK}
	next.ServeHTTP(buf, r.WithContext(context.WithValue(r.Context(), auditNoteKey{}, note)))
	result := events.AuditSuccess
	if buf.status >= 400 {
		result = events.AuditFailure
		note.details["error"] = errorMessage(buf.body.Bytes())
	}
	note.details["status"] = buf.status
	rec := events.AuditRecordedData{UserID: p.UserID, Action: route.Audit, Resource: note.resource, Result: result, Details: note.details}
	if err := a.Audit.Record(r, rec); err != nil {
		if buf.status == http.StatusInsufficientStorage && errors.Is(err, eventstore.ErrStorageFull) {
			// The store is full: the request recorded nothing, and its
			// audit record cannot be written for the same reason. The 507
			// is the answer that explains both.
			Logger(r.Context()).Warn("audit record of a refused request not written: the store is full", "action", route.Audit)
			w.WriteHeader(buf.status)
			_, _ = w.Write(buf.body.Bytes())
			return
		}
		Logger(r.Context()).Error("audit record not written; the answer is withheld", "action", route.Audit, "status", buf.status, "err", err)
		WriteError(w, r, Errorf(http.StatusServiceUnavailable,
			"the request was processed (status %d) but its audit record could not be written; check the outcome before retrying (request id %s)",
			buf.status, RequestID(r.Context())))
		return
	}
	w.WriteHeader(buf.status)
	_, _ = w.Write(buf.body.Bytes())
}

// Record appends an audit record the guard or a handler writes itself
// (refusals, logins). When that fails the request must not go on: the
// error is the 503 to answer.
func (a *Access) Record(r *http.Request, rec events.AuditRecordedData) error {
	if a.Audit == nil {
		return nil
	}
	if err := a.Audit.Record(r, rec); err != nil {
		Logger(r.Context()).Error("audit record not written", "action", rec.Action, "err", err)
		return Errorf(http.StatusServiceUnavailable, "the audit log is unavailable; retry shortly")
	}
	return nil
}

func errorMessage(body []byte) string {
	var env struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &env)
	return env.Error
}

// bufferedResponse holds an answer until it may be sent: until its audit
// record is written, or until its idempotency record is stored.
type bufferedResponse struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if !b.wrote {
		b.status, b.wrote = status, true
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}

type auditNoteKey struct{}

// auditNote lets a handler of a mutating request say what it acted on
// (the id of what it created) and add details to the audit record.
type auditNote struct {
	resource string
	details  map[string]any
}

// NoteResource sets the audit resource of r, e.g. "servers/<task id>".
func NoteResource(r *http.Request, resource string) {
	if n, ok := r.Context().Value(auditNoteKey{}).(*auditNote); ok {
		n.resource = resource
	}
}

// NoteDetail adds a detail to the audit record of r.
func NoteDetail(r *http.Request, key string, value any) {
	if n, ok := r.Context().Value(auditNoteKey{}).(*auditNote); ok {
		n.details[key] = value
	}
}
