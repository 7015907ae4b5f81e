// Package clienttest serves answers shaped like the API reference from an
// httptest server, for testing clients of routes a test cannot reach on
// a real instance (a server built without them, failures that are hard
// to provoke). Tests register the answers they need; the WebSocket helper
// sends the frames a test scripts.
package clienttest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Server is one API (orchestrator or control center) on a loopback port.
type Server struct {
	*httptest.Server
	// Token, when set, is the only bearer token the routes registered
	// with Handle accept (401 otherwise).
	Token string

	mux      *http.ServeMux
	mu       sync.Mutex
	requests []Request
}

// Request is a request the server received.
type Request struct {
	Method, Path, Query string
	// EscapedPath is the path as sent, before decoding.
	EscapedPath string
	Header      http.Header
	Body        []byte
}

// New starts a server that answers 404 in the envelope to everything not
// registered; it is closed when the test ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{mux: http.NewServeMux()}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.Close)
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, EscapedPath: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	s.mu.Unlock()
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	if _, pattern := s.mux.Handler(r); pattern == "" {
		Fail(w, http.StatusNotFound, "no route "+r.Method+" "+r.URL.Path)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Handle registers h for pattern ("GET /tasks/{id}"), behind the token
// check when Token is set.
func (s *Server) Handle(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if s.Token != "" && !s.authorized(r) {
			Fail(w, http.StatusUnauthorized, "missing or invalid token")
			return
		}
		h(w, r)
	})
}

func (s *Server) authorized(r *http.Request) bool {
	return r.Header.Get("Authorization") == "Bearer "+s.Token || r.URL.Query().Get("token") == s.Token
}

// Requests returns what the server received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// OK writes the success envelope.
func OK(w http.ResponseWriter, status int, data any) {
	write(w, status, map[string]any{"success": true, "data": data})
}

// Fail writes the error envelope.
func Fail(w http.ResponseWriter, status int, msg string) {
	write(w, status, map[string]any{"success": false, "error": msg})
}

// FailFields writes a 422 error envelope listing fields.
func FailFields(w http.ResponseWriter, msg string, fields map[string]string) {
	list := []map[string]string{}
	for f, m := range fields {
		list = append(list, map[string]string{"field": f, "message": m})
	}
	write(w, http.StatusUnprocessableEntity, map[string]any{"success": false, "error": msg, "fields": list})
}

func write(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/vnd.provisioning.v1+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// Frame is one WebSocket frame as the orchestrator sends it.
type Frame struct {
	EventType string    `json:"event_type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
	Metadata  any       `json:"metadata"`
	Seq       uint64    `json:"seq"`
}

// Stream is the sending side of one WebSocket connection.
type Stream struct {
	conn *websocket.Conn
	// Query is the connection's query (events, task_id, batch_id, since).
	Query map[string]string
}

// Send writes one frame.
func (st *Stream) Send(ctx context.Context, f Frame) error {
	if f.Timestamp.IsZero() {
		f.Timestamp = time.Now().UTC()
	}
	if f.Metadata == nil {
		f.Metadata = f.Data
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return st.conn.Write(ctx, websocket.MessageText, b)
}

// WS serves GET /ws (behind the token check): each connection runs
// script, and is closed normally when script returns.
func (s *Server) WS(script func(ctx context.Context, st *Stream) error) {
	s.Handle("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		q := map[string]string{}
		for k, v := range r.URL.Query() {
			q[k] = v[0]
		}
		ctx := conn.CloseRead(r.Context())
		if err := script(ctx, &Stream{conn: conn, Query: q}); err != nil {
			_ = conn.Close(websocket.StatusInternalError, err.Error())
			return
		}
		_ = conn.Close(websocket.StatusNormalClosure, "")
	})
}

// Token returns a JWT-shaped token (not signed: clients only read its
// claims) for username that was issued at iat and expires at exp.
func Token(username string, iat, exp time.Time) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"EdDSA","typ":"JWT"}`))
	claims := enc.EncodeToString([]byte(fmt.Sprintf(`{"sub":"u-%s","username":%q,"iat":%d,"exp":%d}`, username, username, iat.Unix(), exp.Unix())))
	return header + "." + claims + ".c2lnbmF0dXJl"
}
