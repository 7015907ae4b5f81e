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

// decodeJSON reads the request body into v, strictly: one JSON object, no
// unknown or repeated fields, every field of the right type. Malformed
// JSON is 400, a body over MaxBodyBytes 413, a well-formed body with
// wrong fields 422 naming them.
func decodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", MaxBodyBytes)
		}
		return errorf(http.StatusBadRequest, "cannot read request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(http.StatusBadRequest, "request body is empty; send a JSON object")
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
		return errorf(http.StatusBadRequest, "malformed JSON: more than one value in the body")
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
		return errorf(http.StatusBadRequest, "malformed JSON at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "malformed JSON: the body ends early")
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return errorf(http.StatusBadRequest, "the body must be a JSON object, not %s", typeErr.Value)
		}
		v := &workflow.ValidationError{}
		v.Add(typeErr.Field, "must be %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
		return v
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		v := &workflow.ValidationError{}
		v.Add(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "is not a known field")
		return v
	}
	return errorf(http.StatusBadRequest, "malformed JSON: %v", err)
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
// it undefined which one counts, and we will not guess.
func checkDuplicates(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next string token is a key
		path   string
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return nil // the real decode reports syntax errors
		}
		top := (*frame)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, &frame{object: t == '{', keys: map[string]bool{}, key: t == '{'})
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].key = true
				}
			}
			continue
		case string:
			if top != nil && top.object && top.key {
				if top.keys[t] {
					v := &workflow.ValidationError{}
					v.Add(t, "is given more than once")
					return v
				}
				top.keys[t] = true
				top.key = false
				continue
			}
		}
		if top != nil && top.object {
			top.key = true
		}
	}
}
