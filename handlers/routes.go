package handlers

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// Route says how one route of either API is protected: open to anyone, or
// a policy question (may the caller do Action on a resource of Kind, with
// the route's {id} as the resource id?). Audit names the route in the
// audit log; mutating routes are audited on every call, reads only when
// refused.
type Route struct {
	Open   bool
	Kind   string
	Action string
	Audit  string
	// QueryToken accepts the token as a WebSocket bearer subprotocol or
	// in ?token=, as well as in the Authorization header (the WebSocket,
	// which browsers cannot give headers).
	QueryToken bool
	// Limit names a rate limit of its own, on top of the general one:
	// "auth" (per client IP) or "batch" (per user).
	Limit string
}

// Mutates reports whether a request with this method changes something
// and is therefore audited.
func Mutates(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// Open is a route anyone may call; audit names it in the audit log when
// its handler records something itself ("" when it never does).
func Open(audit string) Route { return Route{Open: true, Audit: audit} }

// Rule is a route whose caller must be allowed action on a resource of
// kind; audit names it in the audit log.
func Rule(kind, action, audit string) Route { return Route{Kind: kind, Action: action, Audit: audit} }

// WithLimit adds a rate limit of its own to the route ("auth" or
// "batch").
func (p Route) WithLimit(limit string) Route { p.Limit = limit; return p }

// WithQueryToken lets the route take its token as a WebSocket bearer
// subprotocol or as ?token=.
func (p Route) WithQueryToken() Route { p.QueryToken = true; return p }

// HandlerFunc is a handler that returns its failure instead of writing
// it: ServeHTTP answers a returned error in the error envelope (see
// WriteError). A handler returns an error only before it has written
// anything.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ServeHTTP runs h and answers the error it returns, if any.
func (h HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h(w, r); err != nil {
		WriteError(w, r, err)
	}
}

// Mux is the router of one API. Every route declares its protection
// where it is mounted (Router.Get and the like); the access guard looks
// the protection up by the route's pattern before anything else runs. A
// route mounted without one (through the embedded chi router) answers 403
// to everyone, so nothing is reachable by accident.
type Mux struct {
	*chi.Mux
	protection map[string]Route
}

// NewMux returns an empty router answering unknown paths 404 and unknown
// methods 405, in the envelope.
func NewMux() *Mux {
	m := &Mux{Mux: chi.NewRouter(), protection: map[string]Route{}}
	m.NotFound(notFound)
	m.MethodNotAllowed(methodNotAllowed(m.Mux))
	return m
}

// Protection returns the protection of the route "METHOD pattern".
func (m *Mux) Protection(route string) (Route, bool) {
	p, ok := m.protection[route]
	return p, ok
}

// Protections returns the protection of every route mounted, by
// "METHOD pattern".
func (m *Mux) Protections() map[string]Route {
	out := make(map[string]Route, len(m.protection))
	for k, v := range m.protection {
		out[k] = v
	}
	return out
}

// Router mounts routes on a Mux, each with its protection; Group and
// With add middleware to the routes mounted through them, as in chi.
type Router struct {
	r   chi.Router
	mux *Mux
}

// Router is where routes are mounted on m.
func (m *Mux) Router() Router { return Router{r: m.Mux, mux: m} }

// Use adds middleware to every route mounted after it through r.
func (r Router) Use(middlewares ...func(http.Handler) http.Handler) { r.r.Use(middlewares...) }

// Group mounts the routes fn mounts with middleware of their own.
func (r Router) Group(fn func(r Router)) {
	r.r.Group(func(g chi.Router) { fn(Router{r: g, mux: r.mux}) })
}

// With returns Routes whose routes pass through middlewares first.
func (r Router) With(middlewares ...func(http.Handler) http.Handler) Router {
	return Router{r: r.r.With(middlewares...), mux: r.mux}
}

// Handle mounts h on method and pattern with protection p.
func (r Router) Handle(method, pattern string, p Route, h http.Handler) {
	r.mux.protection[method+" "+pattern] = p
	r.r.Method(method, pattern, h)
}

// Get mounts h on GET pattern.
func (r Router) Get(pattern string, p Route, h HandlerFunc) { r.Handle(http.MethodGet, pattern, p, h) }

// Post mounts h on POST pattern.
func (r Router) Post(pattern string, p Route, h HandlerFunc) {
	r.Handle(http.MethodPost, pattern, p, h)
}

// Put mounts h on PUT pattern.
func (r Router) Put(pattern string, p Route, h HandlerFunc) { r.Handle(http.MethodPut, pattern, p, h) }

// Delete mounts h on DELETE pattern.
func (r Router) Delete(pattern string, p Route, h HandlerFunc) {
	r.Handle(http.MethodDelete, pattern, p, h)
}
