// Package client is the Go SDK of provisioning: typed calls for every
// route of the orchestrator (:9090) and the control center (:9080), a
// WebSocket subscription to the event stream, pagination iterators and a
// session that refreshes its token before it expires.
//
// Every call takes a context and returns, for an answer that is not a
// success, an *Error carrying the HTTP status and the server's message
// (match it with errors.As, or with errors.Is against ErrNotFound and its
// siblings). A Client is safe for concurrent use.
//
// The package depends on no other package of the project: its types are
// the API's shapes as documented (docs/client.md), so a program using it
// pulls in no server code.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MediaTypeV1 is the version of the API this client speaks; it is sent as
// Accept on every request.
const MediaTypeV1 = "application/vnd.provisioning.v1+json"

// maxAnswerBytes bounds an answer the client reads (a page of 1000 tasks
// with their output fits many times over).
const maxAnswerBytes = 64 << 20

// Client calls both APIs of one deployment. Create it with New.
type Client struct {
	orchestrator *url.URL
	control      *url.URL
	http         *http.Client
	userAgent    string
	retries      int
	now          func() time.Time

	refreshBefore time.Duration
	onRefresh     func(Session)

	mu      sync.Mutex // guards session and refreshAt
	session Session
	// refreshAt is when the session's token is due a refresh (zero:
	// never), worked out by SetSession.
	refreshAt time.Time
	// refreshing serialises refreshes: one call refreshes, the others
	// wait for it and use the new token.
	refreshing sync.Mutex
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (timeouts, proxies, TLS). The
// default has a 60 s timeout.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithToken starts the client with a token, as from a previous Login. Its
// expiry is read from the token's exp claim, so the client can refresh it
// in time; a token it cannot read is used as it is and never refreshed.
func WithToken(token string) Option { return WithSession(Session{Token: token}) }

// WithSession starts the client with a stored session. As with
// SetSession, a session without ExpiresAt takes it from the token.
func WithSession(s Session) Option { return func(c *Client) { c.session = s } }

// WithRefreshBefore sets how long before its expiry the token is refreshed
// (default 5 minutes, or a third of the token's lifetime when that is
// shorter). Zero or less turns refreshing off.
func WithRefreshBefore(d time.Duration) Option { return func(c *Client) { c.refreshBefore = d } }

// OnRefresh registers f to be called with the new session after every
// refresh (automatic or by Refresh), for example to store it. f runs on
// the goroutine of the call that refreshed and must not call the client.
func OnRefresh(f func(Session)) Option { return func(c *Client) { c.onRefresh = f } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithRetries sets how many times a request that is safe to repeat (a
// GET, or a POST with an Idempotency-Key) is retried after a connection
// error, a 429, 502, 503 or 504 (default 2). Retries wait for Retry-After
// when the server gives one, else back off from 200 ms.
func WithRetries(n int) Option { return func(c *Client) { c.retries = max(0, n) } }

// New returns a client of the orchestrator at orchestratorURL (for
// example http://localhost:9090) and the control center at controlURL
// (http://localhost:9080). Either may be empty when only the other API is
// used; a call to an API without a URL fails.
func New(orchestratorURL, controlURL string, opts ...Option) (*Client, error) {
	c := &Client{
		http:          &http.Client{Timeout: 60 * time.Second},
		userAgent:     "provisioning-go-client/1",
		retries:       2,
		now:           time.Now,
		refreshBefore: 5 * time.Minute,
	}
	var err error
	if c.orchestrator, err = parseBase("orchestrator", orchestratorURL); err != nil {
		return nil, err
	}
	if c.control, err = parseBase("control center", controlURL); err != nil {
		return nil, err
	}
	for _, opt := range opts {
		opt(c)
	}
	// The session of WithToken or WithSession goes through SetSession
	// once every option is applied (the refresh time depends on
	// WithRefreshBefore).
	c.SetSession(c.session)
	return c, nil
}

func parseBase(name, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s URL %q: %w", name, raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%s URL %q: want http://host:port or https://host:port", name, raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s URL %q: a base URL has no query or fragment", name, raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// OrchestratorURL returns the orchestrator's base URL ("" when unset).
func (c *Client) OrchestratorURL() string { return urlString(c.orchestrator) }

// ControlURL returns the control center's base URL ("" when unset).
func (c *Client) ControlURL() string { return urlString(c.control) }

func urlString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.String()
}

// api names which server a request goes to.
type api int

const (
	orchestratorAPI api = iota
	controlAPI
)

// request is one API call.
type request struct {
	api    api
	method string
	path   string // escaped, starting with /
	query  url.Values
	body   any
	header http.Header
	// anonymous calls send no token and never refresh it (login).
	anonymous bool
}

// response is what a successful call returns besides its data.
type response struct {
	status int
	header http.Header
}

// envelope is every answer of both APIs.
type envelope struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Error   string          `json:"error"`
	Fields  []FieldError    `json:"fields"`
}

// do sends req (retrying when that is safe), checks the envelope and
// decodes its data into out (unless out is nil).
func (c *Client) do(ctx context.Context, req request, out any) (response, error) {
	base := c.orchestrator
	if req.api == controlAPI {
		base = c.control
	}
	if base == nil {
		return response{}, fmt.Errorf("%s %s: no URL configured for this API", req.method, req.path)
	}
	var body []byte
	if req.body != nil {
		var err error
		if body, err = json.Marshal(req.body); err != nil {
			return response{}, fmt.Errorf("encode %s %s: %w", req.method, req.path, err)
		}
	}
	if !req.anonymous {
		c.refreshIfDue(ctx)
	}
	target := base.String() + req.path
	if q := req.query.Encode(); q != "" {
		target += "?" + q
	}
	for attempt := 0; ; attempt++ {
		res, raw, err := c.send(ctx, req, target, body)
		retry, wait := c.shouldRetry(req, res, err, attempt)
		if retry {
			if err := sleep(ctx, wait); err != nil {
				return response{}, err
			}
			continue
		}
		if err != nil {
			return response{}, err
		}
		return c.decode(req, res, raw, out)
	}
}

func (c *Client) send(ctx context.Context, req request, target string, body []byte) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, target, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", req.method, req.path, err)
	}
	for k, vs := range req.header {
		hr.Header[k] = vs
	}
	hr.Header.Set("Accept", MediaTypeV1)
	hr.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if token := c.Session().Token; token != "" && !req.anonymous {
		hr.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.http.Do(hr)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", req.method, req.path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxAnswerBytes))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: read answer: %w", req.method, req.path, err)
	}
	return res, raw, nil
}

// shouldRetry decides whether a request is sent again and after how long.
func (c *Client) shouldRetry(req request, res *http.Response, err error, attempt int) (bool, time.Duration) {
	repeatable := req.method == http.MethodGet || req.header.Get("Idempotency-Key") != ""
	if !repeatable || attempt >= c.retries {
		return false, 0
	}
	backoff := time.Duration(200<<attempt) * time.Millisecond
	if err != nil {
		return true, backoff
	}
	switch res.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if d, ok := retryAfter(res.Header); ok {
			if d > time.Minute {
				return false, 0 // not worth blocking a caller for
			}
			return true, d
		}
		return true, backoff
	}
	return false, 0
}

func retryAfter(h http.Header) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t)), true
	}
	return 0, false
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// decode checks an answer and unmarshals its data into out.
func (c *Client) decode(req request, res *http.Response, raw []byte, out any) (response, error) {
	meta := response{status: res.StatusCode, header: res.Header}
	var env envelope
	jsonErr := json.Unmarshal(raw, &env)
	if res.StatusCode >= 300 || jsonErr != nil || !env.Success {
		return meta, newError(req, res, raw, env, jsonErr)
	}
	if out == nil {
		return meta, nil
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return meta, fmt.Errorf("%s %s: decode data: %w", req.method, req.path, err)
	}
	return meta, nil
}

// message is the data of answers that are a sentence ("Task cancelled").
// An answer whose data is not a string is kept as its JSON text.
type message string

func (m *message) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*m = message(s)
		return nil
	}
	*m = message(b)
	return nil
}

// pathf builds a path whose arguments are escaped as one path segment
// each, so an id can never reach another route.
func pathf(format string, ids ...string) string {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = url.PathEscape(id)
	}
	return fmt.Sprintf(format, args...)
}

// CallOption changes one call.
type CallOption func(*request)

// WithIdempotencyKey sends an Idempotency-Key: the server answers a repeat
// of the same call with the same key with the first answer and creates
// nothing twice. It also makes the call safe to retry (WithRetries).
func WithIdempotencyKey(key string) CallOption {
	return func(r *request) {
		if key == "" {
			return
		}
		if r.header == nil {
			r.header = http.Header{}
		}
		r.header.Set("Idempotency-Key", key)
	}
}

// WithHeader adds a header to one call (X-Request-Id, for example).
func WithHeader(key, value string) CallOption {
	return func(r *request) {
		if r.header == nil {
			r.header = http.Header{}
		}
		r.header.Add(key, value)
	}
}

func apply(r request, opts []CallOption) request {
	for _, o := range opts {
		o(&r)
	}
	return r
}
