package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

type requestIDKey struct{}

// validRequestID bounds what a client may pass as X-Request-Id: it ends up
// in logs.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// RequestID echoes a well-formed X-Request-Id or makes one, puts it on the
// answer and in the context, and gives the context a logger carrying it.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func requestIDMiddleware(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("X-Request-Id")
			if !validRequestID.MatchString(id) {
				var b [12]byte
				_, _ = rand.Read(b[:])
				id = hex.EncodeToString(b[:])
			}
			w.Header().Set("X-Request-Id", id)
			ctx := context.WithValue(r.Context(), requestIDKey{}, id)
			ctx = context.WithValue(ctx, loggerKey{}, log.With("request_id", id))
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// recoverer turns a panic into a logged 500 envelope. http.ErrAbortHandler
// is re-panicked: it is how a handler aborts a response on purpose.
// OuterMiddleware is what every route of an API passes first, in this
// order: a request id, then the access log and the HTTP metrics, then the
// recoverer, so that a panic's 500 is logged and counted like any answer.
func OuterMiddleware(log *slog.Logger, reg prometheus.Registerer, api string) []func(http.Handler) http.Handler {
	return []func(http.Handler) http.Handler{requestIDMiddleware(log), accessLog, newHTTPMetrics(reg, api).middleware, recoverer}
}

// wrapResponse records the status and size of the answer, reusing the
// recorder of an outer middleware.
func wrapResponse(w http.ResponseWriter, r *http.Request) middleware.WrapResponseWriter {
	if ww, ok := w.(middleware.WrapResponseWriter); ok {
		return ww
	}
	return middleware.NewWrapResponseWriter(w, r.ProtoMajor)
}

func recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			Logger(r.Context()).Error("panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
			WriteBody(w, http.StatusInternalServerError, ErrorEnvelope{Error: "internal error (request id " + RequestID(r.Context()) + ")"})
		}()
		next.ServeHTTP(w, r)
	})
}

// accessLog logs one line per request. The query is logged with secrets
// redacted: a WebSocket token travels in ?token=.
func accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := wrapResponse(w, r)
		next.ServeHTTP(ww, r)
		Logger(r.Context()).LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("query", RedactQuery(r.URL.RawQuery)),
			slog.Int("status", ww.Status()), slog.Int("bytes", ww.BytesWritten()),
			slog.Duration("duration", time.Since(start)), slog.String("remote", r.RemoteAddr))
	})
}

// secretParams are query parameters never logged.
var secretParams = []string{"token", "access_token", "secret", "password"}

// RedactQuery replaces the values of secret query parameters.
func RedactQuery(raw string) string {
	if raw == "" {
		return ""
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "[unparsable query]"
	}
	for _, k := range secretParams {
		if _, ok := q[k]; ok {
			q.Set(k, "REDACTED")
		}
	}
	return q.Encode()
}

// Versioned checks Accept: v1 of our vendor type, application/json, */*
// or nothing are served; a request that accepts only another version gets
// 406.
func Versioned(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := acceptsV1(r.Header.Values("Accept")); err != nil {
			WriteError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func acceptsV1(values []string) error {
	var asked []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			if params["q"] == "0" {
				continue
			}
			switch mt {
			case "*/*", "application/*", "application/json", MediaTypeV1:
				return nil
			}
			asked = append(asked, mt)
		}
	}
	if len(asked) == 0 {
		return nil
	}
	return Errorf(http.StatusNotAcceptable, "cannot answer in %s: this server speaks %s (or application/json)", strings.Join(asked, ", "), MediaTypeV1)
}

// LimitBody refuses a declared body over MaxBodyBytes before reading it;
// DecodeJSON bounds undeclared ones.
func LimitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxBodyBytes {
			WriteError(w, r, Errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", MaxBodyBytes))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// DefaultReadWait is how long a read waits for a view to catch up when
// its API is given no wait.
const DefaultReadWait = 5 * time.Second

// ReadWait is wait, or DefaultReadWait when wait is not positive.
func ReadWait(wait time.Duration) time.Duration {
	if wait > 0 {
		return wait
	}
	return DefaultReadWait
}

// Fresh is read-your-writes: it runs next once view holds everything
// stored before the request (bounded by wait: 503 after it), so a read
// on any instance sees every write acknowledged before it.
func Fresh(view Consistency, wait time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		err := view.WaitForLatest(ctx)
		cancel()
		if err != nil {
			WriteError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// notFound and methodNotAllowed answer in the envelope; the 405 names the
// methods the path does take.
func notFound(w http.ResponseWriter, r *http.Request) {
	WriteError(w, r, Errorf(http.StatusNotFound, "no route for %s %s", r.Method, r.URL.Path))
}

func methodNotAllowed(routes chi.Routes) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if routes.Match(chi.NewRouteContext(), m, r.URL.Path) {
				allowed = append(allowed, m)
			}
		}
		e := Errorf(http.StatusMethodNotAllowed, "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", "))
		e.Header = http.Header{"Allow": {strings.Join(allowed, ", ")}}
		WriteError(w, r, e)
	}
}
