package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"fieldsync"

	"github.com/gofiber/fiber/v2"
)

// readBody reads a request body of at most limit bytes. Bodies are streamed
// (Fiber's StreamRequestBody), so the limit is enforced here, never after
// buffering an unbounded body.
func readBody(c *fiber.Ctx, limit int64) ([]byte, error) {
	if n := c.Request().Header.ContentLength(); n > int(limit) {
		return nil, fieldsync.Errorf(fieldsync.EPayloadTooLarge, "body larger than %d bytes", limit)
	}
	if r := c.Context().RequestBodyStream(); r != nil {
		b, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err != nil {
			return nil, fieldsync.WrapError(fieldsync.EInvalid, "could not read body", err)
		}
		if int64(len(b)) > limit {
			return nil, fieldsync.Errorf(fieldsync.EPayloadTooLarge, "body larger than %d bytes", limit)
		}
		return b, nil
	}
	b := c.Body()
	if int64(len(b)) > limit {
		return nil, fieldsync.Errorf(fieldsync.EPayloadTooLarge, "body larger than %d bytes", limit)
	}
	return b, nil
}

// decodeJSON decodes a JSON object body of at most MaxBodyBytes into v,
// refusing unknown fields and trailing data; errors name the offending field.
func decodeJSON(c *fiber.Ctx, v any) error {
	b, err := jsonBody(c)
	if err != nil {
		return err
	}
	return decodeJSONBytes(b, v)
}

// jsonBody reads a JSON body of at most MaxBodyBytes.
func jsonBody(c *fiber.Ctx) ([]byte, error) {
	ct := strings.ToLower(c.Get(fiber.HeaderContentType))
	if ct != "" && !strings.HasPrefix(ct, fiber.MIMEApplicationJSON) {
		return nil, fieldsync.Errorf(fieldsync.EInvalid, "content type must be application/json")
	}
	return readBody(c, MaxBodyBytes)
}

func decodeJSONBytes(b []byte, v any) error { return decodeJSONBytesChecked(b, v, checkJSON) }

func decodeJSONBytesChecked(b []byte, v any, check func([]byte) error) error {
	if err := check(b); err != nil {
		return err
	}
	return decodeStrict(b, v)
}

// decodeStrict decodes b into v, refusing unknown fields and trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return fieldsync.Errorf(fieldsync.EInvalid, "trailing data after the JSON body")
	}
	return nil
}

// MaxJSONDepth is the deepest nesting of objects and arrays a body may have.
const MaxJSONDepth = 32

// checkJSON refuses what encoding/json would silently accept but a phone or
// another parser could read differently: invalid UTF-8 (decoded as U+FFFD),
// duplicate object keys (last one wins) and nesting deeper than MaxJSONDepth.
func checkJSON(b []byte) error {
	if !utf8.Valid(b) {
		return fieldsync.Errorf(fieldsync.EInvalid, "body is not valid UTF-8")
	}
	if decided, err := scanJSON(b); decided {
		return err
	}
	return checkJSONTokens(b)
}

// checkPushEnvelope is checkJSON for a push body, whose mutations stay raw
// and are each checked on their own (a bad one is rejected alone, never the
// whole outbox): unique keys in the envelope object, well-formed JSON.
func checkPushEnvelope(b []byte) error {
	decided, err := (&jsonScanner{b: b, keysDepth: 1}).all()
	if decided {
		return err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return jsonError(err) // malformed: name the syntax error
	}
	return nil
}

// checkJSONTokens is checkJSON's slow path, on encoding/json's tokens: it
// names the syntax error of malformed input as the decoder does.
func checkJSONTokens(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		object bool
		keys   map[string]struct{}
		key    bool // the next string token in an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return jsonError(err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].object {
				stack[len(stack)-1].key = true
			}
			continue
		}
		if top != nil && top.object && top.key {
			k := tok.(string) // the decoder only yields strings in key position
			if _, dup := top.keys[k]; dup {
				return &fieldsync.Error{Code: fieldsync.EInvalid, Field: k, Message: "duplicate key"}
			}
			top.keys[k] = struct{}{}
			top.key = false
			continue
		}
		if d, ok := tok.(json.Delim); ok {
			if len(stack) >= MaxJSONDepth {
				return fieldsync.Errorf(fieldsync.EInvalid, "JSON nested deeper than %d levels", MaxJSONDepth)
			}
			stack = append(stack, &frame{object: d == '{', keys: map[string]struct{}{}, key: d == '{'})
			continue
		}
		if top != nil && top.object {
			top.key = true
		}
	}
}

func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return &fieldsync.Error{Code: fieldsync.EInvalid, Field: te.Field, Message: "wrong type: want " + te.Type.String(), Err: err}
	case errors.As(err, &se):
		return &fieldsync.Error{Code: fieldsync.EInvalid, Message: "malformed JSON", Err: err}
	case errors.Is(err, io.EOF):
		return fieldsync.Errorf(fieldsync.EInvalid, "empty body")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &fieldsync.Error{Code: fieldsync.EInvalid, Field: f, Message: "unknown field", Err: err}
	}
	return &fieldsync.Error{Code: fieldsync.EInvalid, Message: "malformed JSON", Err: err}
}
