package handlers

import (
	"errors"
	"testing"

	"provisioning/workflow"
)

func TestCheckDuplicates(t *testing.T) {
	cases := []struct {
		body string
		dup  string
	}{
		{`{"a":1,"b":2}`, ""},
		{`{"a":1,"a":2}`, "a"},
		{`{"a":{"x":1},"b":{"x":2}}`, ""},
		{`{"a":{"x":1,"x":2}}`, "x"},
		{`{"a":[{"x":1},{"x":1}]}`, ""},
		{`{"a":[{"x":1,"y":[1,{"z":1,"z":2}]}]}`, "z"},
		{`{"a":"x\"a","b":"a"}`, ""},
		{`{"a\u0062":1,"ab":2}`, "ab"},
		{`{"k":"v","k2":["k","k"]}`, ""},
		{`["a","a"]`, ""},
		{`{"a":1,"b":{"a":1},"a":3}`, "a"},
		{`{"a`, ""},
	}
	for _, tc := range cases {
		err := checkDuplicates([]byte(tc.body))
		var v *workflow.ValidationError
		switch {
		case tc.dup == "" && err != nil:
			t.Errorf("%s: unexpected %v", tc.body, err)
		case tc.dup != "" && (!errors.As(err, &v) || v.Fields[0].Field != tc.dup):
			t.Errorf("%s: got %v, want duplicate %q", tc.body, err, tc.dup)
		}
	}
}

func FuzzCheckDuplicates(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":{"b":[1,"x"]},"c":"\""}`, `[`, `{"a":1,"a":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_ = checkDuplicates(body) // must not panic on any input
	})
}
