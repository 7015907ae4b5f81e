package handlers_test

import (
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3gen"
)

// A Go type is described in one of two ways. As an answer, every field
// the encoder always writes (no omitempty) is required, a pointer field is
// its type or null, and objects stay open (a later version may add
// fields). As a request body, only what the handler insists on is required
// and unknown fields are refused, as decodeJSON does.
type schemaMode int

const (
	answerMode schemaMode = iota
	requestMode
)

// schemaRule refines the generated schema of one type: enums, bounds and
// the required fields of a request, which reflection cannot see.
type schemaRule func(*openapi3.Schema) error

// schemaSet turns Go types into component schemas of OpenAPI 3.1 (JSON
// Schema 2020-12) with openapi3gen, then corrects what openapi3gen writes
// for 3.0 (nullable) and what it cannot know (required fields, enums,
// bounds: the rules).
type schemaSet struct {
	components openapi3.Schemas
	// names are the public names of types whose Go name would read badly
	// in the document; any other type is its Go name, capitalised.
	names  map[reflect.Type]string
	rules  map[schemaKey][]schemaRule
	owners map[string]schemaKey
	err    error
}

type schemaKey struct {
	t    reflect.Type
	mode schemaMode
}

func newSchemaSet() *schemaSet {
	return &schemaSet{components: openapi3.Schemas{}, names: map[reflect.Type]string{},
		rules: map[schemaKey][]schemaRule{}, owners: map[string]schemaKey{}}
}

func typeOfValue(v any) reflect.Type { return reflect.TypeOf(v) }

// refiner returns a function that adds rules to the schema of a value's
// type in mode.
func refiner(s *schemaSet, mode schemaMode) func(v any, rules ...schemaRule) {
	return func(v any, rules ...schemaRule) {
		k := schemaKey{typeOfValue(v), mode}
		s.rules[k] = append(s.rules[k], rules...)
	}
}

// of returns a reference to the component schema of T's type (or the
// inline schema of a type that is not a struct).
func (s *schemaSet) of(t reflect.Type, mode schemaMode) *openapi3.SchemaRef {
	gen := openapi3gen.NewGenerator(
		openapi3gen.CreateComponentSchemas(openapi3gen.ExportComponentSchemasOptions{ExportComponentSchemas: true, ExportTopLevelSchema: true}),
		openapi3gen.CreateTypeNameGenerator(func(t reflect.Type) string { return s.name(t, mode) }),
		openapi3gen.SchemaCustomizer(func(_ string, t reflect.Type, _ reflect.StructTag, schema *openapi3.Schema) error {
			return s.customize(t, mode, schema)
		}),
	)
	ref, err := gen.NewSchemaRefForValue(reflect.New(t).Elem().Interface(), s.components)
	if err != nil && s.err == nil {
		s.err = fmt.Errorf("schema of %s: %w", t, err)
	}
	if ref == nil {
		return openapi3.NewSchemaRef("", &openapi3.Schema{})
	}
	return ref
}

// name is the component name of t in mode. Request bodies that are not
// named ...Request get an Input suffix, so the answer and the request
// shape of one Go type (a policy rule) are two components.
func (s *schemaSet) name(t reflect.Type, mode schemaMode) string {
	name, ok := s.names[t]
	if !ok {
		r, size := utf8.DecodeRuneInString(t.Name())
		name = string(unicode.ToUpper(r)) + t.Name()[size:]
	}
	if mode == requestMode && !strings.HasSuffix(name, "Request") {
		name += "Input"
	}
	key := schemaKey{t, mode}
	if owner, taken := s.owners[name]; taken && owner != key && s.err == nil {
		s.err = fmt.Errorf("schema name %s names both %s and %s: name one in describeTypes", name, owner.t, t)
	}
	s.owners[name] = key
	return name
}

var timeType = reflect.TypeFor[time.Time]()

// customize turns openapi3gen's output into OpenAPI 3.1: a nullable
// schema becomes a type list with "null"; a struct gets its required
// fields (answers) or refuses unknown ones (requests), then its rules.
func (s *schemaSet) customize(t reflect.Type, mode schemaMode, schema *openapi3.Schema) error {
	isStruct := t.Kind() == reflect.Struct && t != timeType
	if schema.Nullable {
		schema.Nullable = false
		// A struct is a component, never null itself: a field that may
		// be null says so where the component is used (below).
		if schema.Type != nil && !isStruct {
			types := append(*schema.Type, "null")
			schema.Type = &types
		}
	}
	if t.Kind() == reflect.Uint64 {
		schema.Max = nil // 2^64-1 as a float helps nobody
	}
	if !isStruct {
		return nil
	}
	for _, f := range jsonFields(t) {
		prop := schema.Properties[f.name]
		if prop == nil {
			continue
		}
		if f.nullableRef() && prop.Ref != "" {
			// openapi3gen drops the nullability of a *Struct field with
			// the component; say it here.
			schema.Properties[f.name] = openapi3.NewSchemaRef("", &openapi3.Schema{AnyOf: openapi3.SchemaRefs{
				prop, openapi3.NewSchemaRef("", &openapi3.Schema{Type: &openapi3.Types{"null"}})}})
		}
		if mode == answerMode && !f.omitempty {
			schema.Required = append(schema.Required, f.name)
		}
	}
	if mode == requestMode {
		schema.AdditionalProperties = openapi3.AdditionalProperties{Has: new(bool)}
	}
	if schema.Properties == nil {
		// A struct without fields is an object all the same.
		schema.Type = &openapi3.Types{"object"}
	}
	if err := apply(schema, s.rules[schemaKey{t, mode}]); err != nil {
		return fmt.Errorf("rules of %s: %w", t, err)
	}
	return nil
}

// jsonField is a field as encoding/json writes it.
type jsonField struct {
	name      string
	omitempty bool
	typ       reflect.Type
}

// nullableRef: a pointer to a struct, written as null when nil.
func (f jsonField) nullableRef() bool {
	return !f.omitempty && f.typ.Kind() == reflect.Pointer && f.typ.Elem().Kind() == reflect.Struct && f.typ.Elem() != timeType
}

// jsonFields lists the fields encoding/json writes for t, embedded
// structs flattened, as openapi3gen reads them.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonFields(ft)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		omit := false
		for _, o := range strings.Split(opts, ",") {
			omit = omit || o == "omitempty" || o == "omitzero"
		}
		out = append(out, jsonField{name: name, omitempty: omit, typ: f.Type})
	}
	return out
}

// Rules.

// required lists the fields a request must hold.
func required(names ...string) schemaRule {
	return func(s *openapi3.Schema) error { s.Required = append(s.Required, names...); return nil }
}

// field applies rules to one property.
func field(name string, rules ...schemaRule) schemaRule {
	return func(s *openapi3.Schema) error {
		p := s.Properties[name]
		if p == nil || p.Value == nil {
			return fmt.Errorf("no property %s", name)
		}
		return apply(p.Value, rules)
	}
}

// items applies rules to the items of an array.
func items(rules ...schemaRule) schemaRule {
	return func(s *openapi3.Schema) error {
		if s.Items == nil || s.Items.Value == nil {
			return fmt.Errorf("not an array")
		}
		return apply(s.Items.Value, rules)
	}
}

func apply(s *openapi3.Schema, rules []schemaRule) error {
	for _, rule := range rules {
		if err := rule(s); err != nil {
			return err
		}
	}
	return nil
}

func enum[T ~string](values ...T) schemaRule {
	return func(s *openapi3.Schema) error {
		s.Enum = nil
		for _, v := range values {
			s.Enum = append(s.Enum, string(v))
		}
		if s.Type.IncludesNull() {
			s.Enum = append(s.Enum, nil)
		}
		return nil
	}
}

func constant(v any) schemaRule { return func(s *openapi3.Schema) error { s.Const = v; return nil } }

func between(lo, hi float64) schemaRule {
	return func(s *openapi3.Schema) error { s.Min, s.Max = &lo, &hi; return nil }
}

func atLeast(lo float64) schemaRule {
	return func(s *openapi3.Schema) error { s.Min = &lo; return nil }
}

func minLen(n uint64) schemaRule {
	return func(s *openapi3.Schema) error { s.MinLength = n; return nil }
}

func format(f string) schemaRule { return func(s *openapi3.Schema) error { s.Format = f; return nil } }

func maxLen(n uint64) schemaRule {
	return func(s *openapi3.Schema) error { s.MaxLength = &n; return nil }
}

func pattern(p string) schemaRule {
	return func(s *openapi3.Schema) error { s.Pattern = p; return nil }
}

func note(text string) schemaRule {
	return func(s *openapi3.Schema) error { s.Description = text; return nil }
}

func minProps(n uint64) schemaRule {
	return func(s *openapi3.Schema) error { s.MinProps = n; return nil }
}

func minItems(n uint64) schemaRule {
	return func(s *openapi3.Schema) error { s.MinItems = n; return nil }
}

func maxItems(n uint64) schemaRule {
	return func(s *openapi3.Schema) error { s.MaxItems = &n; return nil }
}

// object makes an untyped schema (json.RawMessage) an object.
func object(s *openapi3.Schema) error { s.Type = &openapi3.Types{"object"}; return nil }
