package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Error is an answer that is not a success: its HTTP status and the
// server's message, as the error envelope carried it.
type Error struct {
	// StatusCode is the HTTP status (404, 422, …).
	StatusCode int
	// Message is the server's "error" field, or a description of the
	// answer when it was not an envelope.
	Message string
	// Fields lists the fields a 422 names, when the server listed them.
	Fields []FieldError
	// Method and Path name the call.
	Method, Path string
	// RequestID is the server's X-Request-Id, to find the call in its logs.
	RequestID string
	// RetryAfter is the server's Retry-After (429, 503), zero when absent.
	RetryAfter time.Duration
}

// FieldError is one problem of a request that failed validation.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Is makes errors.Is(err, ErrNotFound) and its siblings match any *Error
// of the same status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.StatusCode == e.StatusCode
}

// Sentinels to match with errors.Is: they equal any *Error of their
// status.
var (
	ErrBadRequest   = &Error{StatusCode: http.StatusBadRequest}
	ErrUnauthorized = &Error{StatusCode: http.StatusUnauthorized}
	ErrForbidden    = &Error{StatusCode: http.StatusForbidden}
	ErrNotFound     = &Error{StatusCode: http.StatusNotFound}
	ErrConflict     = &Error{StatusCode: http.StatusConflict}
	ErrValidation   = &Error{StatusCode: http.StatusUnprocessableEntity}
	ErrRateLimited  = &Error{StatusCode: http.StatusTooManyRequests}
)

func newError(req request, res *http.Response, raw []byte, env envelope, jsonErr error) *Error {
	e := &Error{
		StatusCode: res.StatusCode,
		Method:     req.method,
		Path:       req.path,
		RequestID:  res.Header.Get("X-Request-Id"),
		Message:    env.Error,
		Fields:     env.Fields,
	}
	if d, ok := retryAfter(res.Header); ok {
		e.RetryAfter = d
	}
	switch {
	case jsonErr != nil:
		e.Message = "the answer is not a provisioning envelope: " + snippet(raw)
	case e.Message == "" && res.StatusCode < 300:
		e.StatusCode = http.StatusInternalServerError
		e.Message = "the server answered success=false without an error"
	case e.Message == "":
		e.Message = http.StatusText(res.StatusCode)
	}
	return e
}

func snippet(raw []byte) string {
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return "(empty)"
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if json.Valid([]byte(s)) {
		return s
	}
	return fmt.Sprintf("%q", s)
}
