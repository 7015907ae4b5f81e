package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"provisioning/auth"
	"provisioning/eventstore"
	"provisioning/projections"
	"provisioning/workflow"
)

// MediaTypeV1 is the content type of every API answer.
const MediaTypeV1 = "application/vnd.provisioning.v1+json"

type Envelope struct {
	Success bool `json:"success"`
	Data    any  `json:"data"`
}

type ErrorEnvelope struct {
	Success bool                  `json:"success"`
	Error   string                `json:"error"`
	Fields  []workflow.FieldError `json:"fields,omitempty"`
}

// WriteJSON writes a success envelope around data. When data cannot be
// encoded nothing is written and the error is returned (for the handler
// to return: a 500).
func WriteJSON(w http.ResponseWriter, status int, data any) error {
	return WriteBody(w, status, Envelope{Success: true, Data: data})
}

// WriteBody writes body as JSON with status. The body is encoded before
// anything is written; once it is, a write that fails is the client's
// going away, which no answer can mend.
func WriteBody(w http.ResponseWriter, status int, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode answer: %w", err)
	}
	w.Header().Set("Content-Type", MediaTypeV1)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// Error is an error with the status code and the message a client sees.
type Error struct {
	Status  int
	Message string
	// Header is added to the answer (Retry-After, Allow, …).
	Header http.Header
}

func (e *Error) Error() string { return e.Message }

// Errorf builds an *Error.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// WriteError maps err to a status and writes the error envelope. Errors
// it does not know are logged with the request id and shown to the client
// as a bare "internal error" with that id.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := classify(r.Context(), err)
	var (
		e    *Error
		lock *auth.Lockout
	)
	switch {
	case errors.As(err, &e):
		for k, vs := range e.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
	case errors.As(err, &lock):
		// The limit that refused: the account's.
		h := w.Header()
		h.Set("Retry-After", strconv.Itoa(lock.RetryAfter()))
		h.Set("X-RateLimit-Limit", strconv.Itoa(lock.Limit))
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(lock.Reset.Unix(), 10))
	case status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", challenge401(err))
	}
	if status >= 500 {
		Logger(r.Context()).Error("request failed", "status", status, "method", r.Method, "path", r.URL.Path, "err", err)
	}
	_ = WriteBody(w, status, body) // an error body always encodes
}

func classify(ctx context.Context, err error) (int, ErrorEnvelope) {
	var (
		e       *Error
		valid   *workflow.ValidationError
		refusal *auth.Refusal
		lock    *auth.Lockout
	)
	body := ErrorEnvelope{Error: err.Error()}
	switch {
	case errors.As(err, &e):
		return e.Status, ErrorEnvelope{Error: e.Message}
	case errors.As(err, &lock):
		return http.StatusTooManyRequests, ErrorEnvelope{Error: lock.Error()}
	case errors.As(err, &refusal):
		return refusalStatus(refusal.Kind), ErrorEnvelope{Error: refusal.Message}
	case errors.Is(err, auth.ErrBadCredentials):
		return http.StatusUnauthorized, body
	case errors.Is(err, auth.ErrInvalidToken):
		return http.StatusUnauthorized, ErrorEnvelope{Error: errUnauthenticated}
	case errors.As(err, &valid):
		body.Fields = valid.Fields
		return http.StatusUnprocessableEntity, body
	case errors.Is(err, eventstore.ErrNotFound):
		return http.StatusNotFound, body
	case errors.Is(err, workflow.ErrFinished), errors.Is(err, eventstore.ErrConflict):
		return http.StatusConflict, body
	case errors.Is(err, eventstore.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, body
	case errors.Is(err, eventstore.ErrStorageFull):
		return http.StatusInsufficientStorage, ErrorEnvelope{Error: "the event store is out of storage; nothing was recorded"}
	case errors.Is(err, projections.ErrBehind):
		return http.StatusServiceUnavailable, ErrorEnvelope{Error: "the view is still catching up with the event stream; retry shortly"}
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, ErrorEnvelope{Error: "the event store did not answer in time; retry shortly"}
	case natsUnavailable(err):
		return http.StatusServiceUnavailable, ErrorEnvelope{Error: "the event store is unavailable; retry shortly"}
	}
	return http.StatusInternalServerError, ErrorEnvelope{Error: "internal error (request id " + RequestID(ctx) + ")"}
}

// refusalStatus is the status of a refusal of the identity rules.
func refusalStatus(kind error) int {
	switch {
	case errors.Is(kind, auth.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(kind, auth.ErrInvalidToken):
		return http.StatusUnauthorized
	case errors.Is(kind, auth.ErrOtherUser):
		return http.StatusForbidden
	case errors.Is(kind, auth.ErrBusy):
		return http.StatusServiceUnavailable
	}
	// The last admin, a name taken, MFA in the wrong state, a change
	// that kept losing its race: the state does not allow it.
	return http.StatusConflict
}

// challenges are the WWW-Authenticate of the 401s of the identity rules
// (RFC 9110: every 401 has one): a failed login is no token problem.
func challenge401(err error) string {
	if errors.Is(err, auth.ErrBadCredentials) {
		return `Bearer realm="provisioning"`
	}
	return `Bearer realm="provisioning", error="invalid_token"`
}

type loggerKey struct{}

func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// natsUnavailable reports whether err says NATS or JetStream could not be
// reached (a server restarting, a connection lost): a 503, not a bug.
func natsUnavailable(err error) bool {
	for _, target := range []error{nats.ErrTimeout, nats.ErrNoResponders, nats.ErrConnectionClosed, nats.ErrDisconnected,
		nats.ErrConnectionReconnecting, jetstream.ErrNoStreamResponse, jetstream.ErrJetStreamNotEnabled, jetstream.ErrServerShutdown} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
