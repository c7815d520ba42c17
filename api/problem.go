package api

import (
	"errors"
	"strconv"

	"fieldsync"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
)

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = map[string]int{
	fieldsync.EInvalid:         fiber.StatusBadRequest,
	fieldsync.EUnauthorized:    fiber.StatusUnauthorized,
	fieldsync.EForbidden:       fiber.StatusForbidden,
	fieldsync.ENotFound:        fiber.StatusNotFound,
	fieldsync.EMethodNotAllow:  fiber.StatusMethodNotAllowed,
	fieldsync.EConflict:        fiber.StatusConflict,
	fieldsync.ENotUploaded:     fiber.StatusConflict,
	fieldsync.EGone:            fiber.StatusGone,
	fieldsync.ECursorExpired:   fiber.StatusGone,
	fieldsync.EPayloadTooLarge: fiber.StatusRequestEntityTooLarge,
	fieldsync.EUnprocessable:   fiber.StatusUnprocessableEntity,
	fieldsync.EInvalidTransit:  fiber.StatusUnprocessableEntity,
	fieldsync.EUpgradeRequired: fiber.StatusUpgradeRequired,
	fieldsync.ERateLimited:     fiber.StatusTooManyRequests,
	fieldsync.ETimeout:         fiber.StatusRequestTimeout,
	codeHeaderTooLarge:         fiber.StatusRequestHeaderFieldsTooLarge,
	fieldsync.EInternal:        fiber.StatusInternalServerError,
	fieldsync.EUnavailable:     fiber.StatusServiceUnavailable,
}

// fiberCodes maps Fiber's own errors (routing, body limit) to our codes.
var fiberCodes = map[int]string{
	fiber.StatusBadRequest:                  fieldsync.EInvalid,
	fiber.StatusNotFound:                    fieldsync.ENotFound,
	fiber.StatusMethodNotAllowed:            fieldsync.EMethodNotAllow,
	fiber.StatusRequestEntityTooLarge:       fieldsync.EPayloadTooLarge,
	fiber.StatusRequestTimeout:              fieldsync.ETimeout,
	fiber.StatusUnsupportedMediaType:        fieldsync.EInvalid,
	fiber.StatusTooManyRequests:             fieldsync.ERateLimited,
	fiber.StatusServiceUnavailable:          fieldsync.EUnavailable,
	fiber.StatusRequestHeaderFieldsTooLarge: codeHeaderTooLarge,
}

// codeHeaderTooLarge answers request headers beyond the server's read buffer.
const codeHeaderTooLarge = "header_too_large"

// problem is an RFC 9457 problem document.
type problem struct {
	Type     string         `json:"type"`
	Title    string         `json:"title"`
	Status   int            `json:"status"`
	Detail   string         `json:"detail"`
	Code     string         `json:"code"`
	Instance string         `json:"instance,omitempty"`
	Field    string         `json:"field,omitempty"`
	Errors   []problemField `json:"errors,omitempty"`
}

type problemField struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// toError turns any error into a *fieldsync.Error.
func toError(err error) *fieldsync.Error {
	var fe *fieldsync.Error
	if errors.As(err, &fe) {
		return fe
	}
	var fib *fiber.Error
	if errors.As(err, &fib) {
		code, ok := fiberCodes[fib.Code]
		if !ok {
			code = fieldsync.EInternal
			if fib.Code < 500 {
				code = fieldsync.EInvalid
			}
		}
		msg := fib.Message
		switch {
		case code == fieldsync.EPayloadTooLarge:
			msg = "request body too large"
		case fib.Code == fiber.StatusBadRequest:
			// The HTTP parser's own words quote the request back; say it plainly instead.
			msg = "malformed HTTP request"
		}
		return &fieldsync.Error{Code: code, Message: msg, Err: err}
	}
	return &fieldsync.Error{Code: fieldsync.EInternal, Message: "internal error", Err: err}
}

// newProblem renders err for a client; internal causes never leave the server.
func newProblem(err error, requestID string) (problem, *fieldsync.Error) {
	fe := toError(err)
	status, ok := statusOf[fe.Code]
	if !ok {
		status = fiber.StatusInternalServerError
	}
	detail := fe.Message
	if status >= 500 && fe.Code != fieldsync.EUnavailable {
		detail = "internal error; quote request id " + requestID
	}
	p := problem{
		Type:     "https://fieldsync.dev/problems/" + fe.Code,
		Title:    titleOf(status),
		Status:   status,
		Detail:   detail,
		Code:     fe.Code,
		Instance: requestID,
		Field:    fe.Field,
	}
	if fe.Field != "" {
		p.Errors = []problemField{{Field: fe.Field, Detail: fe.Message}}
	}
	if len(fe.Problems) > 0 && status < 500 {
		p.Errors = p.Errors[:0]
		for _, e := range fe.Problems {
			p.Errors = append(p.Errors, problemField(e))
		}
	}
	return p, fe
}

func titleOf(status int) string {
	if t := utils.StatusMessage(status); t != "" {
		return t
	}
	return "Error"
}

// handleError is Fiber's one ErrorHandler: every error becomes problem+json.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	rid := requestID(c)
	p, fe := newProblem(err, rid)
	if prefersChinese(c.Get(fiber.HeaderAcceptLanguage)) {
		p.localize()
	}
	if p.Status >= 500 {
		s.log.ErrorContext(c.UserContext(), "request failed", "request_id", rid, "code", fe.Code, "err", fe)
	} else {
		s.log.DebugContext(c.UserContext(), "request refused", "request_id", rid, "code", fe.Code, "detail", fe.Message)
	}
	if fe.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(fe.RetryAfter))
	} else if p.Status == fiber.StatusServiceUnavailable || p.Status == fiber.StatusTooManyRequests {
		c.Set(fiber.HeaderRetryAfter, "5")
	}
	c.Response().ResetBody()
	c.Response().Header.Del(fiber.HeaderContentEncoding)
	return c.Status(p.Status).JSON(p, "application/problem+json")
}
