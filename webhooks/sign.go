package webhooks

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery. The first three are Standard Webhooks'.
const (
	HeaderID           = "webhook-id"
	HeaderTimestamp    = "webhook-timestamp"
	HeaderSignature    = "webhook-signature"
	HeaderProvisioning = "X-Provisioning-Signature"
	HeaderEvent        = "X-Provisioning-Event"
)

// DefaultTolerance is how far a webhook-timestamp may be from now.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify.
var (
	ErrMissingHeaders = errors.New("webhook-id, webhook-timestamp or webhook-signature missing")
	ErrTimestamp      = errors.New("webhook-timestamp is invalid or outside the tolerance")
	ErrSignature      = errors.New("no signature matches")
)

// unsignedPayload is the body without its signature field. Its JSON is
// what the body's signature field signs.
type unsignedPayload struct {
	Event     string          `json:"event"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// signBody returns the delivered body: the unsigned JSON object with a
// last member "signature": "sha256=<hex HMAC-SHA256(secret, unsigned)>".
// Receivers recover the unsigned bytes by cutting the body at its last
// `,"signature":"` and closing the brace.
func signBody(secret string, unsigned []byte) []byte {
	unsigned = bytes.TrimSpace(unsigned)
	sig := "sha256=" + hexMAC(secret, unsigned)
	out := make([]byte, 0, len(unsigned)+len(sig)+16)
	out = append(out, unsigned[:len(unsigned)-1]...)
	out = append(out, `,"signature":"`...)
	out = append(out, sig...)
	return append(out, `"}`...)
}

// signHeaders sets the signature headers of one attempt.
func signHeaders(h http.Header, secret, id string, at time.Time, body []byte) {
	ts := strconv.FormatInt(at.Unix(), 10)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, "v1,"+standardMAC(secret, id, ts, body))
	h.Set(HeaderProvisioning, "sha256="+hexMAC(secret, body))
}

func mac(secret string, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

func hexMAC(secret string, body []byte) string { return hex.EncodeToString(mac(secret, body)) }

func standardMAC(secret, id, ts string, body []byte) string {
	return base64.StdEncoding.EncodeToString(mac(secret, []byte(id), []byte("."), []byte(ts), []byte("."), body))
}

// Verify checks a delivery as a receiver should, with the secret shown
// when the endpoint was created: the Standard Webhooks signature over
// "<webhook-id>.<webhook-timestamp>.<raw body>", a timestamp within
// DefaultTolerance of now, and X-Provisioning-Signature when present.
// body must be the raw bytes received, before any JSON decoding.
func Verify(secret string, headers http.Header, body []byte) error {
	return VerifyAt(secret, headers, body, time.Now(), DefaultTolerance)
}

// VerifyAt is Verify at a given time with a given tolerance.
func VerifyAt(secret string, headers http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := headers.Get(HeaderID), headers.Get(HeaderTimestamp), headers.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s from now", ErrTimestamp, d.Round(time.Second))
	}
	want := []byte(standardMAC(secret, id, ts, body))
	matched := false
	for _, s := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(s, ",")
		if ok && version == "v1" && hmac.Equal([]byte(sig), want) {
			matched = true
			break
		}
	}
	if !matched {
		return ErrSignature
	}
	if p := headers.Get(HeaderProvisioning); p != "" && !hmac.Equal([]byte(p), []byte("sha256="+hexMAC(secret, body))) {
		return fmt.Errorf("%w: %s", ErrSignature, HeaderProvisioning)
	}
	return nil
}
