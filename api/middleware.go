package api

import (
	"context"
	"fmt"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"fieldsync"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
)

// HeaderRequestID carries a request id, accepted from the client or generated.
const HeaderRequestID = "X-Request-ID"

const localRequestID = "request_id"

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

func requestID(c *fiber.Ctx) string {
	s, _ := c.Locals(localRequestID).(string)
	return s
}

func (s *Server) recoverMiddleware(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic", "request_id", requestID(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fieldsync.WrapError(fieldsync.EInternal, "internal error", fmt.Errorf("panic: %v", r))
		}
	}()
	return c.Next()
}

// requestIDMiddleware accepts a sane X-Request-ID or makes one, echoes it, and
// gives the handler a context with a deadline.
func (s *Server) requestIDMiddleware(c *fiber.Ctx) error {
	// Cloned: the id outlives the header buffer (Locals, problems, logs).
	rid := strings.Clone(c.Get(HeaderRequestID))
	if !validRequestID.MatchString(rid) {
		rid = uuid.NewString()
	}
	c.Locals(localRequestID, rid)
	c.Set(HeaderRequestID, rid)
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeouts.Request)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}

// accessLogMiddleware writes one JSON log line per request.
func (s *Server) accessLogMiddleware(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		// Render now so the logged status is the one sent.
		if herr := s.handleError(c, err); herr != nil {
			return herr
		}
	}
	took := time.Since(start)
	s.metrics.observe(c, took)
	attrs := []any{
		"request_id", requestID(c),
		// Cloned: a log handler may keep the record past this request's buffer.
		"method", strings.Clone(c.Method()),
		"path", strings.Clone(c.Path()),
		"status", c.Response().StatusCode(),
		"duration_ms", float64(took.Microseconds()) / 1000,
		// The header, not Body(): Body() would read a streamed upload's unread rest into memory.
		"bytes_in", max(c.Request().Header.ContentLength(), 0),
		"remote", s.clientAddress(c),
	}
	if caller := fieldsync.CallerFromContext(c.UserContext()); caller != nil {
		attrs = append(attrs, "user_id", caller.UserID, "tenant", caller.TenantID, "device_id", caller.DeviceID)
	}
	s.log.Info("http", attrs...)
	return nil
}
