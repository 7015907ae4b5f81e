package workflow

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// FieldError names a field of a request and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists everything wrong with a request. Handlers answer
// it with 422.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "validation failed: " + strings.Join(parts, "; ")
}

// Add records a problem with field.
func (e *ValidationError) Add(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns e when it holds a problem, nil otherwise.
func (e *ValidationError) Err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// The forms of names and paths in requests (the API description shows
// them). A name becomes one CLI argument: it must not look like a flag,
// nor hold spaces or control characters. A settings path may hold
// slashes, but not start with a dash.
const (
	NamePattern = `^[A-Za-z0-9][A-Za-z0-9_.-]*$`
	PathPattern = `^[A-Za-z0-9_./][A-Za-z0-9_./-]*$`
)

var (
	namePattern = regexp.MustCompile(NamePattern)
	pathPattern = regexp.MustCompile(PathPattern)
)

// Limits on the strings of a request.
const (
	MaxNameLen = 63
	MaxPathLen = 255
)

// CheckName validates a required or optional name-like field.
func (e *ValidationError) CheckName(field, v string, required bool) {
	switch {
	case v == "" && required:
		e.Add(field, "is required")
	case v == "":
	case len(v) > MaxNameLen:
		e.Add(field, "is longer than %d characters", MaxNameLen)
	case !namePattern.MatchString(v):
		e.Add(field, "must start with a letter or digit and hold only letters, digits, '.', '_' and '-'")
	}
}

// CheckSettings validates an optional settings path: a path relative to
// the CLI's workspace (its working directory) that does not climb out of
// it, or, when the operator set rules.SettingsRoot, an absolute path
// inside that root. A path with a ".." segment is refused either way: a
// path that stays inside can always be written without one.
func (e *ValidationError) CheckSettings(field, v string, rules Rules) {
	switch {
	case v == "":
	case len(v) > MaxPathLen:
		e.Add(field, "is longer than %d characters", MaxPathLen)
	case !pathPattern.MatchString(v):
		e.Add(field, "must be a path of letters, digits, '.', '_', '-' and '/', not starting with '-'")
	case slices.Contains(strings.Split(v, "/"), ".."):
		e.Add(field, "must not hold a '..' segment: settings are paths inside the CLI's workspace")
	case strings.HasPrefix(v, "/") && rules.SettingsRoot == "":
		e.Add(field, "must be a path relative to the CLI's workspace, not absolute (an operator may admit one directory with --settings-root)")
	case strings.HasPrefix(v, "/") && !rules.insideRoot(v):
		e.Add(field, "must be relative, or an absolute path inside %s (the settings root)", path.Clean(rules.SettingsRoot))
	}
}

// CheckOneOf validates an enumerated field.
func (e *ValidationError) CheckOneOf(field, v string, allowed ...string) {
	if v == "" {
		e.Add(field, "is required (one of %s)", strings.Join(allowed, ", "))
		return
	}
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	e.Add(field, "must be one of %s", strings.Join(allowed, ", "))
}

// hidden reports the runes a value must not hold: controls (C0, DEL, C1)
// and format characters (Unicode category Cf: bidirectional overrides and
// isolates, the byte order mark, zero-width joiners), which change how
// an argument reads in a terminal or a log without changing what it is.
func hidden(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }

// CheckValue validates a required free-form value that becomes one CLI
// argument (a server plan such as "1xCPU-2 GB"): printable, bounded, and
// not starting with a dash.
func (e *ValidationError) CheckValue(field, v string) {
	switch {
	case v == "":
		e.Add(field, "is empty")
	case len(v) > MaxNameLen:
		e.Add(field, "is longer than %d characters", MaxNameLen)
	case strings.HasPrefix(v, "-"):
		e.Add(field, "must not start with '-'")
	case !utf8.ValidString(v):
		e.Add(field, "must be valid UTF-8")
	case strings.IndexFunc(v, hidden) >= 0:
		e.Add(field, "must not hold control or format characters (C0, C1, bidirectional overrides and isolates, byte order marks, zero-width characters)")
	}
}
