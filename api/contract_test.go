package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"fieldsync/openapi"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"go.yaml.in/yaml/v3"
)

// The contract validator: libopenapi reads openapi/openapi.yaml as OpenAPI
// 3.1 (JSON Schema 2020-12, if/then, const, type arrays), and
// libopenapi-validator checks the document against the OpenAPI 3.1 meta-schema
// and every answer the API tests receive against the operation's declared
// responses: status, content type, headers and body schema.
var contract struct {
	once sync.Once
	v    validator.Validator
	ops  map[string]string // "METHOD /path/template" → operationId
	err  error
}

// mustContract returns the validator of the embedded contract, failing the
// test if the document cannot be built.
func mustContract(tb testing.TB) validator.Validator {
	tb.Helper()
	contract.once.Do(func() {
		doc, err := libopenapi.NewDocument(openapi.YAML())
		if err != nil {
			contract.err = fmt.Errorf("contract: parse openapi.yaml: %w", err)
			return
		}
		v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
		if len(errs) > 0 {
			contract.err = fmt.Errorf("contract: build validator: %v", errs)
			return
		}
		contract.v = v
		d, err := openapi.Parse()
		if err != nil {
			contract.err = err
			return
		}
		contract.ops = map[string]string{}
		for p, ops := range d.Paths {
			for m, o := range ops {
				contract.ops[strings.ToUpper(m)+" "+p] = o.OperationID
			}
		}
	})
	if contract.err != nil {
		tb.Fatal(contract.err)
	}
	return contract.v
}

// assertContract fails unless resp (with its already-read body) is one of
// the answers the contract declares for req's operation. The failure names
// the operation, the status and content type, and every schema violation
// with the field it is at.
func assertContract(tb testing.TB, req *http.Request, resp *http.Response, body []byte) {
	tb.Helper()
	if msg := contractViolation(mustContract(tb), req, resp, body); msg != "" {
		tb.Fatal(msg)
	}
}

// contractViolation returns "" when the answer matches the contract, else a
// message for the test log.
func contractViolation(v validator.Validator, req *http.Request, resp *http.Response, body []byte) string {
	if isUndocumentedRoute(req) {
		// Tests probe routes and methods that do not exist (404, 405, 401
		// before routing): no operation declares those answers, and
		// assertProblem checks they are problem documents.
		return ""
	}
	if resp.StatusCode == http.StatusInternalServerError {
		// Any operation can fail internally; no operation lists 500, and
		// assertProblem checks the answer is a problem document that leaks nothing.
		return ""
	}
	ct := resp.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "application/x-ndjson") && resp.StatusCode == http.StatusOK {
		// NDJSON: the declared schema is that of one line.
		for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
			if msg := validateOne(v, req, resp, line); msg != "" {
				return msg + "\n  in NDJSON line: " + truncate(line)
			}
		}
		return ""
	}
	return validateOne(v, req, resp, body)
}

func validateOne(v validator.Validator, req *http.Request, resp *http.Response, body []byte) string {
	r := *resp
	r.Body = io.NopCloser(bytes.NewReader(body))
	vr := req.Clone(req.Context())
	vr.Body = http.NoBody
	ok, errs := v.ValidateHttpResponse(vr, &r)
	if ok {
		return ""
	}
	return describeViolation(req, resp, body, errs)
}

func describeViolation(req *http.Request, resp *http.Response, body []byte, errs []*verrors.ValidationError) string {
	op := operationOf(req)
	var b strings.Builder
	fmt.Fprintf(&b, "contract: %s %s (operation %s) answered %d %q, which openapi/openapi.yaml does not allow:",
		req.Method, req.URL.Path, op, resp.StatusCode, resp.Header.Get("Content-Type"))
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  - %s: %s", e.Message, e.Reason)
		for _, f := range e.SchemaValidationErrors {
			at := f.FieldPath
			if at == "" {
				at = "$"
			}
			fmt.Fprintf(&b, "\n      at %s: %s (schema %s)", at, f.Reason, f.KeywordLocation)
		}
	}
	fmt.Fprintf(&b, "\n  body: %s", truncate(body))
	return b.String()
}

func operationOf(req *http.Request) string {
	segs := strings.Split(req.URL.Path, "/")
	for key, id := range contract.ops {
		m, p, _ := strings.Cut(key, " ")
		if m != req.Method {
			continue
		}
		ps := strings.Split(p, "/")
		if len(ps) != len(segs) {
			continue
		}
		match := true
		for i := range ps {
			if !strings.HasPrefix(ps[i], "{") && ps[i] != segs[i] {
				match = false
				break
			}
		}
		if match {
			return id
		}
	}
	return "(none: not in the contract)"
}

func isUndocumentedRoute(req *http.Request) bool {
	return operationOf(req) == "(none: not in the contract)"
}

func truncate(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}

// TestContractIsValidOpenAPI31 checks openapi.yaml against the OpenAPI 3.1
// meta-schema with libopenapi-validator (strict: a stray key, a wrong type or
// a broken $ref fails).
func TestContractIsValidOpenAPI31(t *testing.T) {
	v := mustContract(t)
	if ok, errs := v.ValidateDocument(); !ok {
		for _, e := range errs {
			t.Errorf("openapi.yaml: %s: %s", e.Message, e.Reason)
			for _, f := range e.SchemaValidationErrors {
				t.Errorf("  at %s (line %d): %s", f.FieldPath, f.Line, f.Reason)
			}
		}
	}
	doc, err := libopenapi.NewDocument(openapi.YAML())
	if err != nil {
		t.Fatal(err)
	}
	if doc.GetVersion() != "3.1.0" {
		t.Fatalf("got OpenAPI version %q, want 3.1.0", doc.GetVersion())
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("openapi.yaml does not build as an OpenAPI 3.1 model: %v", err)
	}
	if m.Index != nil {
		for _, e := range m.Index.GetReferenceIndexErrors() {
			t.Errorf("openapi.yaml: unresolved reference: %v", e)
		}
	}
}

// TestContractValidatorCatchesViolations checks the response check itself:
// an answer the contract does not declare fails with the operation, the
// status and the offending field named.
func TestContractValidatorCatchesViolations(t *testing.T) {
	v := mustContract(t)
	cases := []struct {
		name, method, path string
		status             int
		ct, body           string
		want               []string
	}{
		{"wrong type", "GET", "/v1/sync/pull", 200, "application/json",
			`{"changes":[],"cursor":"c","has_more":"no","server_time":"2026-01-01T00:00:00Z"}`,
			[]string{"syncPull", "200", "has_more"}},
		{"undeclared status", "GET", "/v1/sync/config", 418, "application/problem+json",
			`{"type":"about:blank","title":"t","status":418,"detail":"d","code":"teapot"}`,
			[]string{"syncConfig", "418"}},
		{"undeclared content type", "GET", "/v1/me", 200, "text/plain", `hello`,
			[]string{"me", "text/plain"}},
		{"unknown action name", "POST", "/v1/sync/push", 200, "application/json",
			`{"results":[{"mutation_id":"m","status":"exploded","id":"x"}]}`,
			[]string{"syncPush", "status"}},
	}
	for _, c := range cases {
		req := httptest.NewRequest(c.method, c.path, nil)
		resp := &http.Response{StatusCode: c.status, Header: http.Header{"Content-Type": {c.ct}}}
		msg := contractViolation(v, req, resp, []byte(c.body))
		if msg == "" {
			t.Errorf("%s: got no violation, want one", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: message %q does not name %q", c.name, msg, w)
			}
		}
	}
}

// schemaKeywords are the keywords of JSON Schema 2020-12 and OpenAPI 3.1's
// vocabulary. JSON Schema ignores unknown keywords, so the meta-schema alone
// lets a typo or a YAML accident (a comma in a flow-style description
// turning half of it into a key) through; TestContractSchemasUseKnownKeywords
// does not.
var schemaKeywords = map[string]bool{
	"$ref": true, "$id": true, "$schema": true, "$defs": true, "$comment": true, "$anchor": true,
	"$dynamicRef": true, "$dynamicAnchor": true, "type": true, "enum": true, "const": true,
	"format": true, "description": true, "title": true, "default": true, "examples": true,
	"example": true, "readOnly": true, "writeOnly": true, "deprecated": true, "properties": true,
	"additionalProperties": true, "patternProperties": true, "required": true, "items": true,
	"prefixItems": true, "minItems": true, "maxItems": true, "uniqueItems": true, "contains": true,
	"minContains": true, "maxContains": true, "minLength": true, "maxLength": true, "pattern": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true,
	"multipleOf": true, "allOf": true, "anyOf": true, "oneOf": true, "not": true, "if": true,
	"then": true, "else": true, "discriminator": true, "xml": true, "externalDocs": true,
	"minProperties": true, "maxProperties": true, "propertyNames": true, "dependentRequired": true,
	"dependentSchemas": true, "unevaluatedProperties": true, "unevaluatedItems": true,
	"contentMediaType": true, "contentEncoding": true, "contentSchema": true,
}

// TestContractSchemasUseKnownKeywords fails on any schema keyword outside
// JSON Schema 2020-12 and OpenAPI 3.1 (x- extensions aside), and on any
// keyword without a value.
func TestContractSchemasUseKnownKeywords(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal(openapi.YAML(), &root); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node, path string, schema bool)
	walk = func(n *yaml.Node, path string, schema bool) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path, false)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i), schema)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i].Value, n.Content[i+1]
				p := path + "." + k
				if schema && !strings.HasPrefix(k, "x-") && !schemaKeywords[k] {
					t.Errorf("openapi.yaml line %d: %s: %q is not a JSON Schema / OpenAPI 3.1 keyword", n.Content[i].Line, path, k)
				}
				if schema && v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
					t.Errorf("openapi.yaml line %d: %s: keyword %q has no value", n.Content[i].Line, path, k)
				}
				switch {
				case schema && (k == "properties" || k == "$defs" || k == "patternProperties" || k == "dependentSchemas"):
					for j := 0; j+1 < len(v.Content); j += 2 {
						walk(v.Content[j+1], p+"."+v.Content[j].Value, true)
					}
				case schema && (k == "items" || k == "additionalProperties" || k == "not" || k == "if" || k == "then" ||
					k == "else" || k == "allOf" || k == "anyOf" || k == "oneOf" || k == "prefixItems" || k == "contains" ||
					k == "propertyNames" || k == "unevaluatedProperties" || k == "unevaluatedItems"):
					walk(v, p, true)
				case schema:
					// examples, enum, const, default: values, not schemas
				case k == "schema":
					walk(v, p, true)
				case path == ".components.schemas":
					walk(v, p, true)
				default:
					walk(v, p, false)
				}
			}
		}
	}
	walk(&root, "", false)
}

// TestContractExamples checks every operation carries an example of its
// JSON request body and of its success answer, and that every example is
// valid against its own schema (the same validator as the API tests), so the
// examples /docs shows are answers the server could give.
func TestContractExamples(t *testing.T) {
	v := mustContract(t)
	doc, err := libopenapi.NewDocument(openapi.YAML())
	if err != nil {
		t.Fatal(err)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	for path, item := range m.Model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			method = strings.ToUpper(method)
			url := strings.NewReplacer("{id}", "0193a5b0-0000-7000-8000-0000000000bb", "{device_id}", "phone-7f3a", "{name}", "init.js").Replace(path)
			if op.RequestBody != nil {
				for ct, mt := range op.RequestBody.Content.FromOldest() {
					if !strings.Contains(ct, "json") {
						continue
					}
					if mt.Example == nil {
						t.Errorf("%s (%s %s): request body %s has no example", op.OperationId, method, path, ct)
						continue
					}
					var ex any
					if err := mt.Example.Decode(&ex); err != nil {
						t.Fatal(err)
					}
					b, _ := json.Marshal(ex)
					req := httptest.NewRequest(method, url, bytes.NewReader(b))
					req.Header.Set("Content-Type", ct)
					if ok, errs := v.GetRequestBodyValidator().ValidateRequestBody(req); !ok {
						t.Errorf("%s: the request example is not valid: %s", op.OperationId, describeViolation(req, &http.Response{Header: http.Header{}}, b, errs))
					}
				}
			}
			found := false
			for code, resp := range op.Responses.Codes.FromOldest() {
				if !strings.HasPrefix(code, "2") || resp.Content == nil {
					continue
				}
				for ct, mt := range resp.Content.FromOldest() {
					if mt.Example == nil {
						continue
					}
					found = true
					var ex any
					if err := mt.Example.Decode(&ex); err != nil {
						t.Fatal(err)
					}
					b := []byte(fmt.Sprint(ex))
					if s, ok := ex.(string); ok {
						b = []byte(s)
					} else {
						b, _ = json.Marshal(ex)
					}
					status := 200
					fmt.Sscan(code, &status)
					if msg := contractViolation(v, httptest.NewRequest(method, url, nil),
						&http.Response{StatusCode: status, Header: http.Header{"Content-Type": {ct}}}, b); msg != "" {
						t.Errorf("%s: the %s example is not valid: %s", op.OperationId, code, msg)
					}
				}
			}
			if !found && !onlyBinaryOrEmpty(op) {
				t.Errorf("%s (%s %s): no example of its success answer", op.OperationId, method, path)
			}
		}
	}
}

// onlyBinaryOrEmpty tells whether an operation's success answers carry no
// body (204) or only bytes (an image, a script): no example to show.
func onlyBinaryOrEmpty(op *v3.Operation) bool {
	for code, resp := range op.Responses.Codes.FromOldest() {
		if !strings.HasPrefix(code, "2") || resp.Content == nil {
			continue
		}
		for ct := range resp.Content.FromOldest() {
			if !strings.HasPrefix(ct, "image/") && !strings.HasPrefix(ct, "text/javascript") && !strings.HasPrefix(ct, "text/css") && op.OperationId != "docsAsset" {
				return false
			}
		}
	}
	return true
}
