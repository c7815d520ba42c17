package api

import (
	"encoding/json"
	"strconv"

	"fieldsync"
	"fieldsync/internal/jsontext"

	"github.com/gofiber/fiber/v2"
)

// sendPushResult answers a push with results: what c.JSON sends of
// fieldsync.PushResult{Results: results}, written without encoding/json's
// reflection over every stored record the results carry (TestPushResultJSON
// holds the two to the same bytes).
func sendPushResult(c *fiber.Ctx, results []fieldsync.MutationResult) error {
	b, err := appendPushResult(make([]byte, 0, 1024*len(results)+16), results)
	if err != nil {
		return err
	}
	c.Response().SetBodyRaw(b)
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	return nil
}

// appendPushResult appends json.Marshal(fieldsync.PushResult{Results: results}).
func appendPushResult(dst []byte, results []fieldsync.MutationResult) ([]byte, error) {
	if results == nil {
		return append(dst, `{"results":null}`...), nil
	}
	dst = append(dst, `{"results":[`...)
	for i := range results {
		r := &results[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsontext.AppendString(append(dst, `{"mutation_id":`...), r.MutationID)
		dst = jsontext.AppendString(append(dst, `,"status":`...), r.Status)
		dst = jsontext.AppendString(append(dst, `,"id":`...), r.ID)
		if r.Version != 0 {
			dst = strconv.AppendInt(append(dst, `,"version":`...), r.Version, 10)
		}
		if len(r.Doc) > 0 {
			dst = append(dst, `,"doc":`...)
			if b, ok := jsontext.Append(dst, map[string]any(r.Doc)); ok {
				dst = b
			} else {
				b, err := json.Marshal(r.Doc)
				if err != nil {
					return nil, err
				}
				dst = append(dst, b...)
			}
		}
		if e := r.Error; e != nil {
			dst = jsontext.AppendString(append(dst, `,"error":{"code":`...), e.Code)
			dst = jsontext.AppendString(append(dst, `,"detail":`...), e.Detail)
			if e.Field != "" {
				dst = jsontext.AppendString(append(dst, `,"field":`...), e.Field)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...), nil
}
