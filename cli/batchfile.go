package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"provisioning/client"
	"provisioning/config"
)

// Local validation of a batch file is light: it catches what a user gets
// wrong most (a typo in a field, a missing id, a dependency on nothing, a
// cycle) with the server's field paths and messages, before anything is
// sent. The server stays the authority: it checks everything again.

// fieldErrors is a list of problems of a file, each with its field path.
type fieldErrors []client.FieldError

func (f *fieldErrors) add(field, format string, args ...any) {
	*f = append(*f, client.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// invalidFile is a file that failed local validation (exit 5).
type invalidFile struct {
	name   string
	fields fieldErrors
}

func (e *invalidFile) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s is not a valid batch (nothing was sent):", e.name)
	for _, f := range e.fields {
		fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Message)
	}
	return b.String()
}

// shape is the little schema a file is checked against: which fields
// exist and what type each holds.
type shape struct {
	kind   string // string, int, bool, object, array, strings (an object of strings)
	fields map[string]*shape
	elem   *shape
}

var (
	tString  = &shape{kind: "string"}
	tInt     = &shape{kind: "int"}
	tBool    = &shape{kind: "bool"}
	tStrings = &shape{kind: "array", elem: tString}

	operationShape = &shape{kind: "object", fields: map[string]*shape{
		"id": tString, "type": tString, "provider": tString, "dependencies": tStrings,
		"infra": tString, "settings": tString, "taskservs": tStrings, "clusters": tStrings,
		"server_configs": {kind: "array", elem: &shape{kind: "strings"}},
	}}
	batchShape = &shape{kind: "object", fields: map[string]*shape{
		"name": tString, "version": tString, "storage_backend": tString, "parallel_limit": tInt,
		"rollback_enabled": tBool, "infra": tString, "settings": tString,
		"operations": {kind: "array", elem: operationShape},
	}}
)

// maxStdinDocument bounds a document read from stdin (the server takes
// request bodies up to 1 MiB).
const maxStdinDocument = 1 << 20

// readDocument reads a JSON or TOML document from the file at path ("-"
// is JSON on stdin); what names the document in a read error ("batch").
// name is what to call the file in messages.
func readDocument(path string, stdin io.Reader, what string) (doc any, name string, err error) {
	name = path
	var raw []byte
	if path == "-" {
		name = "stdin"
		raw, err = io.ReadAll(io.LimitReader(stdin, maxStdinDocument+1))
		if err == nil && len(raw) > maxStdinDocument {
			return nil, name, &exitError{code: ExitInvalid, err: fmt.Errorf("%s: the %s is larger than %d bytes", name, what, maxStdinDocument)}
		}
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, name, &exitError{code: ExitUsage, err: fmt.Errorf("read %s file: %w", what, err)}
	}
	if doc, err = decodeDocument(path, raw); err != nil {
		return nil, name, &exitError{code: ExitInvalid, err: fmt.Errorf("%s: %w", name, err)}
	}
	return doc, name, nil
}

// fromDocument converts a document of readDocument into v, a request
// type (the document goes through JSON, so v's json tags apply).
func fromDocument(doc, v any) error {
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// readBatch reads a batch from a JSON or TOML file ("-" is JSON on stdin)
// and validates it.
func readBatch(path string, stdin io.Reader) (client.BatchRequest, error) {
	var req client.BatchRequest
	doc, name, err := readDocument(path, stdin, "batch")
	if err != nil {
		return req, err
	}
	var errs fieldErrors
	check(&errs, "", doc, batchShape)
	if len(errs) == 0 {
		if err := fromDocument(doc, &req); err != nil {
			errs.add("(file)", "%v", err)
		}
	}
	if len(errs) == 0 {
		errs = validateBatch(req)
	}
	if len(errs) > 0 {
		return req, &exitError{code: ExitInvalid, err: &invalidFile{name: name, fields: errs}}
	}
	return req, nil
}

func decodeDocument(path string, raw []byte) (any, error) {
	ext := strings.ToLower(filepath.Ext(path))
	isJSON := ext == ".json" || path == "-" || ext != ".toml" && bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{"))
	if isJSON {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var doc any
		if err := dec.Decode(&doc); err != nil {
			return nil, fmt.Errorf("not valid JSON: %w", err)
		}
		if dec.More() {
			return nil, fmt.Errorf("not valid JSON: more than one value")
		}
		return doc, nil
	}
	var doc map[string]any
	if _, err := toml.Decode(config.Normalize(string(raw)), &doc); err != nil {
		return nil, fmt.Errorf("not valid TOML: %w", err)
	}
	return doc, nil
}

// check walks v against s, recording unknown fields and wrong types.
func check(errs *fieldErrors, path string, v any, s *shape) {
	at := path
	if at == "" {
		at = "(file)"
	}
	switch s.kind {
	case "string":
		if _, ok := v.(string); !ok {
			errs.add(at, "must be a string")
		}
	case "bool":
		if _, ok := v.(bool); !ok {
			errs.add(at, "must be true or false")
		}
	case "int":
		if !isInteger(v) {
			errs.add(at, "must be an integer")
		}
	case "strings":
		m, ok := v.(map[string]any)
		if !ok {
			errs.add(at, "must be an object of strings")
			return
		}
		for _, k := range sortedKeys(m) {
			if _, ok := m[k].(string); !ok {
				errs.add(path+"."+k, "must be a string")
			}
		}
	case "array":
		list, ok := asList(v)
		if !ok {
			errs.add(at, "must be a list")
			return
		}
		for i, item := range list {
			check(errs, fmt.Sprintf("%s[%d]", path, i), item, s.elem)
		}
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			errs.add(at, "must be an object")
			return
		}
		for _, k := range sortedKeys(m) {
			field := k
			if path != "" {
				field = path + "." + k
			}
			fs, known := s.fields[k]
			if !known {
				errs.add(field, "is not a field of %s", strings.Join(sortedKeys(s.fields), ", "))
				continue
			}
			check(errs, field, m[k], fs)
		}
	}
}

func isInteger(v any) bool {
	switch n := v.(type) {
	case json.Number:
		_, err := n.Int64()
		return err == nil
	case int64:
		return true
	}
	return false
}

func asList(v any) ([]any, bool) {
	switch l := v.(type) {
	case []any:
		return l, true
	case []map[string]any: // TOML arrays of tables
		out := make([]any, len(l))
		for i, m := range l {
			out[i] = m
		}
		return out, true
	}
	return nil, false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// The server's rules, in its words (workflow validation).
var (
	namePattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	storageBackends = []string{"jetstream", "filesystem", "surrealdb"}
	operationTypes  = []string{client.ServerBatch, client.TaskservBatch, client.ClusterBatch}
)

const (
	maxNameLen       = 63
	maxParallelLimit = 1000
)

func checkName(errs *fieldErrors, field, v string, required bool) {
	switch {
	case v == "" && required:
		errs.add(field, "is required")
	case v == "":
	case len(v) > maxNameLen:
		errs.add(field, "is longer than %d characters", maxNameLen)
	case !namePattern.MatchString(v):
		errs.add(field, "must start with a letter or digit and hold only letters, digits, '.', '_' and '-'")
	}
}

func checkOneOf(errs *fieldErrors, field, v string, allowed []string) {
	if v == "" {
		errs.add(field, "is required (one of %s)", strings.Join(allowed, ", "))
		return
	}
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	errs.add(field, "must be one of %s", strings.Join(allowed, ", "))
}

// validateBatch checks the rules a user most often breaks.
func validateBatch(b client.BatchRequest) fieldErrors {
	var errs fieldErrors
	checkName(&errs, "name", b.Name, true)
	if b.StorageBackend != "" {
		checkOneOf(&errs, "storage_backend", b.StorageBackend, storageBackends)
	}
	if b.ParallelLimit != nil && (*b.ParallelLimit < 1 || *b.ParallelLimit > maxParallelLimit) {
		errs.add("parallel_limit", "must be from 1 to %d, not %d", maxParallelLimit, *b.ParallelLimit)
	}
	if len(b.Operations) == 0 {
		errs.add("operations", "is required: a batch holds at least one operation")
		return errs
	}
	index := map[string]int{}
	for i, op := range b.Operations {
		field := fmt.Sprintf("operations[%d]", i)
		checkName(&errs, field+".id", op.ID, true)
		checkOneOf(&errs, field+".type", op.Type, operationTypes)
		checkWork(&errs, field, op)
		if op.ID == "" {
			continue
		}
		if j, dup := index[op.ID]; dup {
			errs.add(field+".id", "%q is already the id of operations[%d]", op.ID, j)
			continue
		}
		index[op.ID] = i
	}
	for i, op := range b.Operations {
		seen := map[string]bool{}
		for j, dep := range op.Dependencies {
			field := fmt.Sprintf("operations[%d].dependencies[%d]", i, j)
			_, known := index[dep]
			switch {
			case dep == "":
				errs.add(field, "is empty")
			case !known:
				errs.add(field, "names unknown operation %q", dep)
			case seen[dep]:
				errs.add(field, "names %q twice", dep)
			}
			seen[dep] = true
		}
	}
	if len(errs) == 0 {
		if cycle := findCycle(b.Operations, index); cycle != nil {
			errs.add("operations", "cycle: %s", strings.Join(cycle, " -> "))
		}
	}
	return errs
}

// checkWork checks that an operation names the work of its type.
func checkWork(errs *fieldErrors, field string, op client.OperationRequest) {
	switch op.Type {
	case client.ServerBatch:
		if len(op.ServerConfigs) == 0 {
			errs.add(field+".server_configs", "is required: a server_batch creates at least one server")
		}
		for i, cfg := range op.ServerConfigs {
			checkName(errs, fmt.Sprintf("%s.server_configs[%d].name", field, i), cfg["name"], true)
		}
	case client.TaskservBatch:
		if len(op.Taskservs) == 0 {
			errs.add(field+".taskservs", "is required: name at least one")
		}
	case client.ClusterBatch:
		if len(op.Clusters) == 0 {
			errs.add(field+".clusters", "is required: name at least one")
		}
	}
}

// findCycle returns a dependency cycle as ids (a -> b: b waits for a),
// ending where it starts, or nil.
func findCycle(ops []client.OperationRequest, index map[string]int) []string {
	const (
		unvisited = iota
		onPath
		done
	)
	state := make([]int, len(ops))
	var path []int
	var visit func(i int) []string
	visit = func(i int) []string {
		state[i] = onPath
		path = append(path, i)
		for _, d := range ops[i].Dependencies {
			j := index[d]
			switch state[j] {
			case onPath:
				start := 0
				for k, p := range path {
					if p == j {
						start = k
					}
				}
				var cycle []string
				for _, p := range path[start:] {
					cycle = append([]string{ops[p].ID}, cycle...)
				}
				return append(cycle, ops[path[len(path)-1]].ID)
			case unvisited:
				if c := visit(j); c != nil {
					return c
				}
			}
		}
		state[i] = done
		path = path[:len(path)-1]
		return nil
	}
	for i := range ops {
		if state[i] == unvisited {
			if c := visit(i); c != nil {
				return c
			}
		}
	}
	return nil
}

// taskCount is how many tasks a batch expands to.
func taskCount(b client.BatchRequest) int {
	n := 0
	for _, op := range b.Operations {
		n += len(op.ServerConfigs) + len(op.Taskservs) + len(op.Clusters)
	}
	return n
}
