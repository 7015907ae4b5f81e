package handlers_test

import (
	"net/http"
	"provisioning/handlers"
	"reflect"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// The parts a route description is made of, and the components every
// operation refers to.

// enveloped adds a success answer in the envelope; data describes its data.
func enveloped(status int, description string, data func(*schemaSet) *openapi3.SchemaRef) docPart {
	return func(b *opBuilder) {
		b.respond(status, description, handlers.MediaTypeV1, envelope(data(b.schemas)))
	}
}

// typeOf describes the Go type T as an answer.
func typeOf[T any]() func(*schemaSet) *openapi3.SchemaRef {
	return func(s *schemaSet) *openapi3.SchemaRef { return s.of(reflect.TypeFor[T](), answerMode) }
}

// ok is a 200 whose data is a T.
func ok[T any](description string) docPart { return enveloped(http.StatusOK, description, typeOf[T]()) }

// created is a 201 whose data is a T.
func created[T any](description string) docPart {
	return enveloped(http.StatusCreated, description, typeOf[T]())
}

// message is an answer whose data is one of a few fixed sentences.
func message(status int, texts ...string) docPart {
	return enveloped(status, strings.Join(texts, " / "), func(*schemaSet) *openapi3.SchemaRef {
		s := openapi3.NewStringSchema()
		for _, t := range texts {
			s.Enum = append(s.Enum, t)
		}
		return openapi3.NewSchemaRef("", s)
	})
}

// text is a 200 whose data is a string.
func text(description string) docPart {
	return enveloped(http.StatusOK, description, func(*schemaSet) *openapi3.SchemaRef { return stringSchema() })
}

// paged is a 200 with one page of a list of T, the pagination headers, and
// limit and offset.
func paged[T any](description string) docPart {
	return func(b *opBuilder) {
		list := openapi3.NewArraySchema()
		list.Items = b.schemas.of(reflect.TypeFor[T](), answerMode)
		r := b.respond(http.StatusOK, description, handlers.MediaTypeV1, envelope(openapi3.NewSchemaRef("", list)))
		for _, h := range []string{"X-Total-Count", "X-Limit", "X-Offset", "Link"} {
			r.Headers[h] = headerRef(h)
		}
		b.op.Parameters = append(b.op.Parameters, &openapi3.ParameterRef{Ref: "#/components/parameters/limit"})
		b.op.Parameters = append(b.op.Parameters, &openapi3.ParameterRef{Ref: "#/components/parameters/offset"})
		b.fail(http.StatusBadRequest)
	}
}

// raw is a 200 outside the envelope.
func raw(mediaType, description string, schema *openapi3.Schema) docPart {
	return func(b *opBuilder) {
		b.respond(http.StatusOK, description, mediaType, openapi3.NewSchemaRef("", schema))
	}
}

// rawType is a 200 outside the envelope whose body is a T.
func rawType[T any](mediaType, description string) docPart {
	return func(b *opBuilder) {
		b.respond(http.StatusOK, description, mediaType, b.schemas.of(reflect.TypeFor[T](), answerMode))
	}
}

// body is the request body, a T; required lists the fields the handler
// insists on, rules refine this operation's body (a PUT: minProperties).
func body[T any](optional bool, rules ...schemaRule) docPart {
	return func(b *opBuilder) {
		ref := b.schemas.of(reflect.TypeFor[T](), requestMode)
		if len(rules) > 0 {
			extra := &openapi3.Schema{}
			if err := apply(extra, rules); err != nil && b.schemas.err == nil {
				b.schemas.err = err
			}
			ref = openapi3.NewSchemaRef("", &openapi3.Schema{AllOf: openapi3.SchemaRefs{ref, openapi3.NewSchemaRef("", extra)}})
		}
		rb := openapi3.NewRequestBody().WithRequired(!optional).WithContent(openapi3.Content{
			"application/json": openapi3.NewMediaType().WithSchemaRef(ref)})
		b.op.RequestBody = &openapi3.RequestBodyRef{Value: rb}
		b.hasBody = true
	}
}

// query adds query parameters; bad values are 400.
func query(params ...*openapi3.Parameter) docPart {
	return func(b *opBuilder) {
		for _, p := range params {
			p.In = openapi3.ParameterInQuery
			b.op.AddParameter(p)
		}
		b.fail(http.StatusBadRequest)
	}
}

// failsAs adds an error answer with a description of its own.
func failsAs(status int, description string) docPart {
	return func(b *opBuilder) {
		b.respond(status, description, handlers.MediaTypeV1, openapi3.NewSchemaRef("#/components/schemas/Error", nil))
	}
}

// failsPlain adds an error answer that comes in the envelope or, from a
// library's own error page, as plain text.
func failsPlain(status int, description string) docPart {
	return func(b *opBuilder) {
		r := b.respond(status, description, handlers.MediaTypeV1, openapi3.NewSchemaRef("#/components/schemas/Error", nil))
		r.Content["text/plain"] = openapi3.NewMediaType().WithSchema(openapi3.NewStringSchema())
	}
}

// fails adds error answers particular to the route.
func fails(statuses ...int) docPart { return func(b *opBuilder) { b.fail(statuses...) } }

// creates: the POST creates something and honours Idempotency-Key.
func creates(b *opBuilder) { b.creates = true }

// unversioned: the route does not look at Accept (it is not the JSON handlers.API).
func unversioned(b *opBuilder) { b.unversioned = true }

// withHeader adds a header to the answer of a status described before.
func withHeader(status int, name string) docPart {
	return func(b *opBuilder) {
		if r := b.op.Responses.Status(status); r != nil {
			r.Value.Headers[name] = headerRef(name)
		}
	}
}

// describedAs sets the operation's description.
func describedAs(text string) docPart { return func(b *opBuilder) { b.op.Description = text } }

// messages describes T as a component: what a WebSocket sends, which is
// no operation's body.
func messages[T any]() docPart {
	return func(b *opBuilder) { b.schemas.of(reflect.TypeFor[T](), answerMode) }
}

// upgrade is the 101 of the WebSocket.
func upgrade(description string) docPart {
	return func(b *opBuilder) { b.respond(http.StatusSwitchingProtocols, description, "", nil) }
}

// answerRaw is an answer outside the success envelope whose body is a T
// (the health report, whose 503 still carries data).
func answerRaw[T any](status int, description string) docPart {
	return func(b *opBuilder) {
		b.respond(status, description, handlers.MediaTypeV1, b.schemas.of(reflect.TypeFor[T](), answerMode))
	}
}

// Parameters.

// commaList makes a query parameter a comma-separated list.
func commaList(p *openapi3.Parameter) *openapi3.Parameter {
	explode := false
	p.Style, p.Explode = openapi3.SerializationForm, &explode
	return p
}

func param(name, description string, schema *openapi3.Schema) *openapi3.Parameter {
	return &openapi3.Parameter{Name: name, Description: description, Schema: openapi3.NewSchemaRef("", schema)}
}

func enumSchema[T ~string](values ...T) *openapi3.Schema {
	s := openapi3.NewStringSchema()
	for _, v := range values {
		s.Enum = append(s.Enum, string(v))
	}
	return s
}

// components are the shared parameters, headers, security schemes and
// the error envelope.
func components(c *openapi3.Components, schemas *schemaSet) {
	limit := openapi3.NewIntegerSchema().WithMin(1).WithMax(handlers.MaxLimit).WithDefault(handlers.DefaultLimit)
	offset := openapi3.NewIntegerSchema().WithMin(0).WithDefault(0)
	c.Parameters = openapi3.ParametersMap{
		"limit": {Value: &openapi3.Parameter{Name: "limit", In: openapi3.ParameterInQuery,
			Description: "Page size, 1 to " + strconv.Itoa(handlers.MaxLimit) + " (default " + strconv.Itoa(handlers.DefaultLimit) + "); anything else is 400.",
			Schema:      openapi3.NewSchemaRef("", limit)}},
		"offset": {Value: &openapi3.Parameter{Name: "offset", In: openapi3.ParameterInQuery,
			Description: "Items to skip, >= 0 (default 0); anything else is 400.", Schema: openapi3.NewSchemaRef("", offset)}},
		"Idempotency-Key": {Value: &openapi3.Parameter{Name: "Idempotency-Key", In: openapi3.ParameterInHeader,
			Description: "Up to 255 characters. A repeat with the same key and body (per caller and path, within the window) returns the first answer with Idempotent-Replayed: true and creates nothing; the same key with another body is 422.",
			Schema:      openapi3.NewSchemaRef("", openapi3.NewStringSchema().WithMinLength(1).WithMaxLength(255))}},
	}
	integer := func(min float64) *openapi3.SchemaRef {
		return openapi3.NewSchemaRef("", openapi3.NewIntegerSchema().WithMin(min))
	}
	header := func(description string, required bool, schema *openapi3.SchemaRef) *openapi3.HeaderRef {
		return &openapi3.HeaderRef{Value: &openapi3.Header{Parameter: openapi3.Parameter{Description: description, Required: required, Schema: schema}}}
	}
	c.Headers = openapi3.Headers{
		"X-Request-Id":          header("The request's id: the client's X-Request-Id when well-formed, else a new one. Logged with the request.", true, stringSchema()),
		"X-RateLimit-Limit":     header("Requests allowed in the current window (absent when the limit is off).", false, integer(0)),
		"X-RateLimit-Remaining": header("Requests left in the current window.", false, integer(0)),
		"X-RateLimit-Reset":     header("When the window ends, in unix seconds.", false, integer(0)),
		"Retry-After":           header("Seconds to wait before retrying.", true, integer(0)),
		"WWW-Authenticate":      header("The bearer challenge (RFC 6750).", true, stringSchema()),
		"X-Total-Count":         header("Items in the whole list.", true, integer(0)),
		"X-Limit":               header("The page size used.", true, openapi3.NewSchemaRef("", openapi3.NewIntegerSchema().WithMin(1).WithMax(handlers.MaxLimit))),
		"X-Offset":              header("The offset used.", true, integer(0)),
		"Link":                  header(`The next and previous pages: <path?offset=…&limit=…>; rel="next", <…>; rel="prev", built from the request's own path and query.`, false, stringSchema()),
		"Location":              header("The path of what was created.", true, stringSchema()),
		"Idempotent-Replayed":   header("true when the answer is the stored answer of an earlier request with the same Idempotency-Key.", false, openapi3.NewSchemaRef("", openapi3.NewStringSchema().WithEnum("true"))),
		"Cache-Control":         header("How long the document may be cached.", false, stringSchema()),
	}
	c.SecuritySchemes = openapi3.SecuritySchemes{
		"bearerAuth": {Value: &openapi3.SecurityScheme{Type: "http", Scheme: "bearer", BearerFormat: "JWT",
			Description: "A token from POST /auth/login on the control center (EdDSA JWT, verify with /.well-known/jwks.json)."}},
		"queryToken": {Value: &openapi3.SecurityScheme{Type: "apiKey", In: "query", Name: "token",
			Description: "The same token as ?token=, for WebSocket clients that cannot send headers (browsers)."}},
		"protocolToken": {Value: &openapi3.SecurityScheme{Type: "apiKey", In: "header", Name: "Sec-WebSocket-Protocol",
			Description: "The token as a WebSocket subprotocol, " + handlers.WSBearerProtocol + "<token in unpadded base64url>, offered beside " +
				handlers.WSProtocol + ", which the server selects: how a browser sends it without putting it in the URL."}},
	}
	c.Responses = errorResponses()
	schemas.of(reflect.TypeFor[handlers.ErrorEnvelope](), answerMode)
}
