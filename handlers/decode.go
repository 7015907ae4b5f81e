package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"provisioning/workflow"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

// DecodeJSON reads the request body into v, strictly: one JSON object, no
// unknown or repeated fields, every field of the right type. Malformed
// JSON is 400, a body over MaxBodyBytes 413, a well-formed body with
// wrong fields 422 naming them.
func DecodeJSON(r *http.Request, v any) error {
	body, err := ReadBody(r)
	if err != nil {
		return err
	}
	return DecodeBody(body, v)
}

// ReadBody reads the whole request body: 415 when it is encoded (gzip,
// …: we take bodies as they are, and a compressed one is not JSON), 413
// over MaxBodyBytes, 400 when it cannot be read.
func ReadBody(r *http.Request) ([]byte, error) {
	if enc := strings.TrimSpace(r.Header.Get("Content-Encoding")); enc != "" && !strings.EqualFold(enc, "identity") {
		return nil, Errorf(http.StatusUnsupportedMediaType, "Content-Encoding %q is not supported: send the body uncompressed", enc)
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, Errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", MaxBodyBytes)
		}
		return nil, Errorf(http.StatusBadRequest, "cannot read request body: %v", err)
	}
	return body, nil
}

// DecodeBody is DecodeJSON for a body already read.
func DecodeBody(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return Errorf(http.StatusBadRequest, "request body is empty; send a JSON object")
	}
	if err := checkDuplicates(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return Errorf(http.StatusBadRequest, "malformed JSON: more than one value in the body")
	}
	return nil
}

func decodeError(err error) error {
	var (
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return Errorf(http.StatusBadRequest, "malformed JSON at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(http.StatusBadRequest, "malformed JSON: the body ends early")
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return Errorf(http.StatusBadRequest, "the body must be a JSON object, not %s", typeErr.Value)
		}
		v := &workflow.ValidationError{}
		v.Add(typeErr.Field, "must be %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
		return v
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		v := &workflow.ValidationError{}
		v.Add(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "is not a known field")
		return v
	}
	return Errorf(http.StatusBadRequest, "malformed JSON: %v", err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "float32", "float64":
		return "a number"
	}
	if strings.HasPrefix(goKind, "int") || strings.HasPrefix(goKind, "uint") {
		return "an integer"
	}
	return goKind
}

// checkDuplicates refuses an object that names a field twice: JSON leaves
// it undefined which one counts, and we will not guess. It is one pass
// over the bytes without allocating per token; syntax errors are left to
// the decoder.
func checkDuplicates(body []byte) error {
	type frame struct {
		object    bool
		expectKey bool
		keys      []string
	}
	var stack []frame
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '{', '[':
			stack = append(stack, frame{object: c == '{', expectKey: c == '{'})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if n := len(stack); n > 0 && stack[n-1].object {
				stack[n-1].expectKey = true
			}
		case '"':
			end := stringEnd(body, i)
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expectKey {
				key := string(body[i+1 : max(i+1, end-1)])
				if bytes.IndexByte(body[i:end], '\\') >= 0 {
					_ = json.Unmarshal(body[i:end], &key)
				}
				top := &stack[n-1]
				for _, k := range top.keys {
					if k == key {
						v := &workflow.ValidationError{}
						v.Add(key, "is given more than once")
						return v
					}
				}
				top.keys = append(top.keys, key)
				top.expectKey = false
			}
			i = end - 1
		}
	}
	return nil
}

// stringEnd returns the index just past the JSON string starting at i.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}
