package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// IdempotencyBucket is the KV bucket of Idempotency-Key records.
const IdempotencyBucket = "PROV_IDEMPOTENCY"

// Idempotency makes a POST that carries an Idempotency-Key answer once:
// the first request claims the key (an atomic KV create), runs, and stores
// its answer; a repeat with the same body gets that answer again (with
// Idempotent-Replayed: true), a repeat with another body 422, and a repeat
// that arrives while the first still runs waits for its answer. The KV
// bucket's TTL is the window. Answers of 5xx and 429 are not kept, so the
// client may retry them.
type Idempotency struct {
	KV jetstream.KeyValue
	// Wait bounds how long a repeat waits for the first request.
	Wait time.Duration
	// Scope names the caller (the principal), so two callers' keys never
	// collide.
	Scope func(*http.Request) string
}

type idemRecord struct {
	State    string      `json:"state"` // "pending" or "done"
	BodyHash string      `json:"body_sha256"`
	Status   int         `json:"status,omitempty"`
	Header   http.Header `json:"header,omitempty"`
	Body     []byte      `json:"body,omitempty"`
}

// Middleware applies to POST requests with the header; others pass.
func (m *Idempotency) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if m == nil || m.KV == nil || r.Method != http.MethodPost || key == "" {
			next.ServeHTTP(w, r)
			return
		}
		if len(key) > 255 {
			WriteError(w, r, Errorf(http.StatusBadRequest, "Idempotency-Key is longer than 255 characters"))
			return
		}
		body, err := ReadBody(r)
		if err != nil {
			WriteError(w, r, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		sum := sha256.Sum256(body)
		bodyHash := hex.EncodeToString(sum[:])
		scope := ""
		if m.Scope != nil {
			scope = m.Scope(r)
		}
		k := sha256.Sum256([]byte(scope + "\x00" + r.URL.Path + "\x00" + key))
		kvKey := hex.EncodeToString(k[:])
		m.serve(w, r, next, kvKey, bodyHash)
	})
}

func (m *Idempotency) serve(w http.ResponseWriter, r *http.Request, next http.Handler, key, bodyHash string) {
	ctx := r.Context()
	pending, _ := json.Marshal(idemRecord{State: "pending", BodyHash: bodyHash})
	rev, err := m.KV.Create(ctx, key, pending)
	switch {
	case err == nil:
		m.runFirst(w, r, next, key, rev, bodyHash)
	case errors.Is(err, jetstream.ErrKeyExists):
		rec, err := m.awaitAnswer(ctx, key)
		if err != nil {
			WriteError(w, r, err)
			return
		}
		if rec.BodyHash != bodyHash {
			WriteError(w, r, Errorf(http.StatusUnprocessableEntity, "Idempotency-Key was already used with a different request body"))
			return
		}
		for k, vs := range rec.Header {
			w.Header()[k] = vs
		}
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(rec.Status)
		_, _ = w.Write(rec.Body)
	default:
		WriteError(w, r, fmt.Errorf("idempotency record: %w", err))
	}
}

// runFirst runs the request that claimed the key and stores its answer.
func (m *Idempotency) runFirst(w http.ResponseWriter, r *http.Request, next http.Handler, key string, rev uint64, bodyHash string) {
	rec := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
	next.ServeHTTP(rec, r)
	for k, vs := range rec.header {
		w.Header()[k] = vs
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())

	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if rec.status >= 500 || rec.status == http.StatusTooManyRequests {
		_ = m.KV.Delete(ctx, key, jetstream.LastRevision(rev))
		return
	}
	header := http.Header{}
	for _, k := range []string{"Content-Type", "Location"} {
		if v := rec.header.Get(k); v != "" {
			header.Set(k, v)
		}
	}
	done, _ := json.Marshal(idemRecord{State: "done", BodyHash: bodyHash, Status: rec.status, Header: header, Body: rec.body.Bytes()})
	if _, err := m.KV.Update(ctx, key, done, rev); err != nil {
		Logger(r.Context()).Warn("idempotency answer not stored; a repeat will wait and then fail", "err", err)
	}
}

// awaitAnswer returns the stored answer, waiting while the first request
// runs.
func (m *Idempotency) awaitAnswer(ctx context.Context, key string) (idemRecord, error) {
	wait := m.Wait
	if wait <= 0 {
		wait = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	watcher, err := m.KV.Watch(ctx, key)
	if err != nil {
		return idemRecord{}, fmt.Errorf("idempotency record: %w", err)
	}
	defer watcher.Stop()
	for {
		select {
		case entry := <-watcher.Updates():
			if entry == nil {
				continue // the end of the initial values
			}
			if entry.Operation() != jetstream.KeyValuePut {
				// The first request failed and released the key.
				return idemRecord{}, Errorf(http.StatusConflict, "the first request with this Idempotency-Key failed; retry it")
			}
			var rec idemRecord
			if err := json.Unmarshal(entry.Value(), &rec); err != nil {
				return idemRecord{}, fmt.Errorf("idempotency record: %w", err)
			}
			if rec.State == "done" {
				return rec, nil
			}
		case <-ctx.Done():
			return idemRecord{}, Errorf(http.StatusConflict, "a request with this Idempotency-Key is still in progress")
		}
	}
}
