package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strconv"
	"time"

	"fieldsync"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/compress"
)

// Sync routes: push, pull, the streaming bootstrap, live events and the
// published limits. Handlers are thin: the engine (fieldsync.SyncService)
// validates, merges, versions and scopes.
func (s *Server) registerSyncRoutes(r fiber.Router) {
	g := r.Group("/sync", requires("sync engine", s.opts.Sync != nil))
	// Push answers carry every record as stored and pull pages up to 500
	// records: compressed (gzip, deflate or brotli, as the phone accepts)
	// they cost a phone on a weak signal several times fewer bytes.
	zip := compress.New(compress.Config{Level: compress.LevelBestSpeed})
	g.Post("/push", zip, s.handleSyncPush)
	g.Get("/pull", zip, s.handleSyncPull)
	g.Get("/bootstrap", s.handleSyncBootstrap)
	g.Get("/events", s.handleSyncEvents)
	g.Get("/config", s.handleSyncConfig)
}

// pushRequest is the push envelope. Mutations stay raw so that one malformed
// mutation is answered on its own and never blocks the rest of the outbox.
type pushRequest struct {
	DeviceID      string            `json:"device_id"`
	SchemaVersion int               `json:"schema_version"`
	Mutations     []json.RawMessage `json:"mutations"`
}

func (s *Server) handleSyncPush(c *fiber.Ctx) error {
	b, err := jsonBody(c)
	if err != nil {
		return err
	}
	batch, early, n, err := decodePush(b, s.opts.Sync.Config().MaxMutations)
	if err != nil {
		return err
	}
	res, err := s.opts.Sync.Push(c.UserContext(), batch)
	if err != nil {
		return err
	}
	results := mergeResults(early, res.Results, n)
	if prefersChinese(c.Get(fiber.HeaderAcceptLanguage)) {
		localizeResults(results)
	}
	statuses := make([]string, len(results))
	for i, r := range results {
		statuses[i] = r.Status
	}
	s.metrics.countMutations(statuses)
	return sendPushResult(c, results)
}

// decodePush reads a push body of n mutations. A body that is acceptable JSON
// throughout (the usual case) is decoded in one pass; any other is decoded
// envelope first and then each mutation on its own, so that a bad mutation
// is rejected alone (in early, by position) and the rest go on. Both ways
// give the same batch for a body the one pass takes.
func decodePush(b []byte, max int) (batch fieldsync.PushRequest, early map[int]fieldsync.MutationResult, n int, err error) {
	if checkJSON(b) == nil && decodePushOnePass(b, &batch) == nil && batch.Mutations != nil {
		n = len(batch.Mutations)
	} else {
		var req pushRequest
		if err := decodeJSONBytesChecked(b, &req, checkPushEnvelope); err != nil {
			return batch, nil, 0, err
		}
		if req.Mutations == nil {
			return batch, nil, 0, fieldsync.FieldErrorf("mutations", "required")
		}
		n = len(req.Mutations)
		if n <= max {
			batch, early = decodeMutations(req)
		}
	}
	if n > max {
		return batch, nil, 0, &fieldsync.Error{Code: fieldsync.EPayloadTooLarge, Field: "mutations", Message: "at most " + strconv.Itoa(max) + " mutations per push"}
	}
	return batch, early, n, nil
}

// decodeMutations decodes each mutation on its own; those that do not decode
// are answered rejected in early (by position) and left out of the batch.
func decodeMutations(req pushRequest) (fieldsync.PushRequest, map[int]fieldsync.MutationResult) {
	batch := fieldsync.PushRequest{DeviceID: req.DeviceID, SchemaVersion: req.SchemaVersion, Mutations: make([]fieldsync.Mutation, 0, len(req.Mutations))}
	early := map[int]fieldsync.MutationResult{}
	for i, raw := range req.Mutations {
		var m fieldsync.Mutation
		if err := decodeJSONBytes(raw, &m); err != nil {
			var probe struct {
				MutationID string `json:"mutation_id"`
				ID         string `json:"id"`
			}
			_ = json.Unmarshal(raw, &probe)
			fe := toError(err)
			early[i] = fieldsync.MutationResult{MutationID: probe.MutationID, ID: probe.ID, Status: fieldsync.StatusRejected,
				Error: &fieldsync.Problem{Code: fieldsync.EInvalid, Detail: fe.Message, Field: fe.Field}}
			continue
		}
		batch.Mutations = append(batch.Mutations, m)
	}
	return batch, early
}

// mergeResults puts the early rejections back at their positions.
func mergeResults(early map[int]fieldsync.MutationResult, engine []fieldsync.MutationResult, n int) []fieldsync.MutationResult {
	if len(early) == 0 {
		return engine
	}
	out := make([]fieldsync.MutationResult, 0, n)
	j := 0
	for i := range n {
		if r, ok := early[i]; ok {
			out = append(out, r)
			continue
		}
		if j < len(engine) {
			out = append(out, engine[j])
			j++
		}
	}
	return out
}

// queryInt reads an optional integer query parameter.
func queryInt(c *fiber.Ctx, name string) (int, error) {
	v := c.Query(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fieldsync.FieldErrorf(name, "want an integer")
	}
	return n, nil
}

func (s *Server) handleSyncPull(c *fiber.Ctx) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	if limit < 0 || c.Query("limit") == "0" {
		return fieldsync.FieldErrorf("limit", "want a positive integer")
	}
	sv, err := queryInt(c, "schema_version")
	if err != nil {
		return err
	}
	if len(c.Query("cursor")) > 4096 {
		return fieldsync.FieldErrorf("cursor", "malformed cursor")
	}
	page, err := s.opts.Sync.Pull(c.UserContext(), fieldsync.PullRequest{Cursor: c.Query("cursor"), Limit: limit, SchemaVersion: sv})
	if err != nil {
		return err
	}
	if page.Changes == nil {
		page.Changes = []fieldsync.Change{}
	}
	s.metrics.observePullLag(oldestChange(page))
	return c.JSON(page)
}

// oldestChange is how long ago the oldest change of a page was made.
func oldestChange(p fieldsync.PullResult) time.Duration {
	var oldest time.Time
	for _, ch := range p.Changes {
		if s, ok := ch.Doc["updated_at"].(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil && (oldest.IsZero() || t.Before(oldest)) {
				oldest = t
			}
		}
	}
	if oldest.IsZero() {
		return -1
	}
	return p.ServerTime.Sub(oldest)
}

// streamContext is a context for work that outlives the handler (streams):
// it carries the caller but not the per-request deadline.
func streamContext(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithCancel(fieldsync.NewContextWithCaller(context.Background(), fieldsync.CallerFromContext(c.UserContext())))
}

// handleSyncBootstrap streams the caller's whole scope as NDJSON through one
// database cursor. An error before the first line is a problem+json answer
// (so a phone retries a 503 like any other); a failure mid-stream ends the
// stream with an {"error": …} line instead of the final cursor line, so a
// phone never mistakes a cut stream for a complete one.
func (s *Server) handleSyncBootstrap(c *fiber.Ctx) error {
	sv, err := queryInt(c, "schema_version")
	if err != nil {
		return err
	}
	ctx, cancel := streamContext(c)
	pr, pw := io.Pipe()
	go func() {
		// Buffered so the engine's line-by-line writes do not each cross the pipe;
		// an error before the first flush still reaches Peek below as a problem.
		bw := bufio.NewWriterSize(pw, 64<<10)
		err := s.opts.Sync.Bootstrap(ctx, sv, bw)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	br := bufio.NewReaderSize(pr, 64<<10)
	if _, err := br.Peek(1); err != nil {
		cancel()
		_ = pr.Close()
		return err
	}
	c.Set(fiber.HeaderContentType, "application/x-ndjson")
	c.Set(fiber.HeaderCacheControl, "no-store")
	conn := c.Context().Conn()
	boundSendBuffer(conn)
	c.Context().SetBodyStreamWriter(func(bw *bufio.Writer) {
		defer cancel()
		defer pr.Close()
		w := progressWriter{w: bw, conn: conn, timeout: s.opts.Timeouts.Write}
		if _, err := io.Copy(w, br); err != nil {
			p, _ := newProblem(err, "")
			b, _ := json.Marshal(struct {
				Error problem `json:"error"`
			}{p})
			_, _ = w.Write(append(b, '\n'))
			s.log.Warn("bootstrap stream cut", "err", err)
		}
		_ = w.Flush()
	})
	return nil
}

func (s *Server) handleSyncConfig(c *fiber.Ctx) error {
	return c.JSON(s.opts.Sync.Config())
}

// DefaultEventHeartbeat is how often an idle event stream gets a comment
// heartbeat (Options.EventHeartbeat overrides it).
const DefaultEventHeartbeat = 15 * time.Second
