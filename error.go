// Package fieldsync holds the domain vocabulary of the fieldsync offline-sync
// backend: users and their scope, records and mutations, changes and cursors,
// and the one error type every layer returns.
package fieldsync

import (
	"errors"
	"fmt"
)

// Error codes: stable machine words sent to clients in problem+json bodies.
const (
	EInvalid         = "invalid_input"
	EUnauthorized    = "unauthorized"
	EForbidden       = "forbidden"
	ENotFound        = "not_found"
	EConflict        = "conflict"
	EPayloadTooLarge = "payload_too_large"
	ERateLimited     = "rate_limited"
	ECursorExpired   = "cursor_expired"
	EUnavailable     = "unavailable"
	EInternal        = "internal"
	EGone            = "gone"
	EInvalidTransit  = "invalid_transition"
	EUpgradeRequired = "upgrade_required"
	ENotUploaded     = "not_uploaded"
	EUnprocessable   = "unprocessable"
	EMethodNotAllow  = "method_not_allowed"
	ETimeout         = "timeout"
)

// Error is the one error type of fieldsync. Message is safe to show a client;
// Err is the cause, logged and never sent.
type Error struct {
	Code    string
	Message string
	// Field names the offending input field, when there is one.
	Field string
	// RetryAfter, in seconds, tells a client when to try again (429, 503).
	RetryAfter int
	Err        error
	// Problems, when set, are every offending field (a CSV import names
	// each bad line); Field is then the first of them.
	Problems []FieldProblem
}

// FieldProblem is one offending input field and what is wrong with it.
type FieldProblem struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Error implements the error interface.
func (e *Error) Error() string {
	s := e.Code + ": " + e.Message
	if e.Field != "" {
		s += " (" + e.Field + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted client-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an invalid_input *Error naming the offending field.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an *Error with code and message that keeps err as its cause.
func WrapError(code, message string, err error) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// ErrorCode returns the code of err's *Error, or internal for anything else.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the client-safe message of err, or "internal error".
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EInternal {
		return e.Message
	}
	return "internal error"
}

// ErrorField returns the field an error names, if any.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
