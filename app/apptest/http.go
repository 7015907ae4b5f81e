package apptest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"provisioning/handlers"
)

// Response is a decoded answer: the status, headers and envelope.
type Response struct {
	Status  int
	Header  http.Header
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Error   string          `json:"error"`
	Raw     []byte
}

// Decode unmarshals Data into v or fails the test.
func (r Response) Decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Data, v); err != nil {
		tb.Fatalf("decode data %s: %v", r.Data, err)
	}
}

// Client calls one API with optional headers on every request. Every
// answer is checked against the API's OpenAPI description (see
// CheckAnswer); a mismatch fails the test.
type Client struct {
	Base   string
	Header http.Header
	HTTP   *http.Client
	// API is the API at Base; empty: the one Start or Serve registered
	// for Base, else the one whose description holds the path.
	API handlers.API
	// Unchecked turns the OpenAPI check off, for a test that wants an
	// answer the description does not promise.
	Unchecked bool
}

// NewClient returns a client of base.
func NewClient(base string) *Client {
	return &Client{Base: base, Header: http.Header{}, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// clone returns a copy of c with its own headers.
func (c *Client) clone() *Client {
	d := *c
	d.Header = c.Header.Clone()
	return &d
}

// WithoutCheck returns a copy of c whose answers are not checked against
// the OpenAPI description.
func (c *Client) WithoutCheck() *Client {
	d := c.clone()
	d.Unchecked = true
	return d
}

// Do sends a request; body is JSON-encoded unless it is []byte or nil.
func (c *Client) Do(tb testing.TB, method, path string, body any, headers ...string) Response {
	tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		data, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	for k, vs := range c.Header {
		req.Header[k] = vs
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if !c.Unchecked {
		CheckAnswer(tb, c.API, req, res.StatusCode, res.Header, raw)
	}
	out := Response{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out); err != nil {
			tb.Fatalf("%s %s: answer is not JSON: %s", method, path, raw)
		}
	}
	return out
}
