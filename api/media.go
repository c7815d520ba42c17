package api

import (
	"bytes"
	"cmp"
	"io"
	"time"

	"fieldsync"
	"fieldsync/media"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
)

func (s *Server) registerMediaRoutes(r fiber.Router) {
	g := r.Group("/media", requires("media service", s.opts.Media != nil), noSniff)
	g.Post("", s.handleMediaCreate)
	g.Get("", s.handleMediaList)
	g.Get("/:id", s.handleMediaGet)
	g.Get("/:id/stamped", s.handleMediaStamped)
	g.Put("/:id/content", s.handleMediaUpload)
	g.Post("/:id/complete", s.handleMediaComplete)
	g.Post("/:id/multipart", s.handleMultipartStart)
	g.Get("/:id/multipart", s.handleMultipartState)
	g.Delete("/:id/multipart", s.handleMultipartAbort)
	g.Post("/:id/multipart/parts", s.handleMultipartParts)
}

// noSniff tells browsers to trust the declared type of every media answer.
func noSniff(c *fiber.Ctx) error {
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	return c.Next()
}

type mediaCreateRequest struct {
	ID          string              `json:"id"`
	Kind        string              `json:"kind,omitempty"`
	ContentType string              `json:"content_type"`
	Size        int64               `json:"size"`
	SHA256      string              `json:"sha256"`
	Record      *fieldsync.RecordID `json:"record,omitempty"`
}

type mediaUpload struct {
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt time.Time         `json:"expires_at"`
}

type mediaURLs struct {
	Original  string     `json:"original,omitempty"`
	Thumbnail string     `json:"thumbnail,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

type mediaResponse struct {
	ID          string              `json:"id"`
	Status      string              `json:"status"`
	Kind        string              `json:"kind,omitempty"`
	ContentType string              `json:"content_type,omitempty"`
	Size        int64               `json:"size,omitempty"`
	SHA256      string              `json:"sha256,omitempty"`
	Width       int                 `json:"width,omitempty"`
	Height      int                 `json:"height,omitempty"`
	TakenAt     *time.Time          `json:"taken_at,omitempty"`
	GPS         *fieldsync.GeoPoint `json:"gps,omitempty"`
	Record      *fieldsync.RecordID `json:"record,omitempty"`
	Upload      *mediaUpload        `json:"upload,omitempty"`
	URLs        *mediaURLs          `json:"urls,omitempty"`
}

func newMediaResponse(m *fieldsync.Media) mediaResponse {
	kind := m.Kind
	if kind == "" && m.ContentType != "" {
		kind = fieldsync.KindPhoto
	}
	return mediaResponse{ID: m.ID, Status: m.Status, Kind: kind, ContentType: m.ContentType, Size: m.Size, SHA256: m.SHA256,
		Width: m.Width, Height: m.Height, TakenAt: m.TakenAt, GPS: m.GPS, Record: m.Record}
}

func (s *Server) handleMediaCreate(c *fiber.Ctx) error {
	svc := s.opts.Media
	var req mediaCreateRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	m, up, err := svc.Create(c.UserContext(), media.CreateRequest(req))
	if err != nil {
		return err
	}
	res := newMediaResponse(m)
	if up != nil {
		res.Upload = &mediaUpload{Method: up.Method, URL: up.URL, Headers: up.Headers, ExpiresAt: up.ExpiresAt}
	}
	return c.Status(fiber.StatusCreated).JSON(res)
}

// handleMediaUpload streams the body to the object store: Fiber runs with
// StreamRequestBody, so the app's 4 MiB BodyLimit does not apply here and
// the service reads at most the media's declared size (itself at most the
// media max size), without buffering it.
func (s *Server) handleMediaUpload(c *fiber.Ctx) error {
	svc := s.opts.Media
	n := int64(c.Request().Header.ContentLength())
	if n > svc.MaxBytes() {
		c.Context().SetConnectionClose() // do not read a body we refuse
		e := fieldsync.Errorf(fieldsync.EPayloadTooLarge, "body larger than %d bytes", svc.MaxBytes())
		e.Field = "size"
		return e
	}
	if n < 0 {
		n = -1 // chunked: the service reads the declared size and checks the end
	}
	var body io.Reader = c.Context().RequestBodyStream()
	if body == nil {
		body = bytes.NewReader(c.Body())
	}
	// A big photo on a slow network outlasts the request's timeouts however
	// steadily it arrives: the upload ends only when its body stalls.
	pb, ctx, stop := newProgressBody(c.UserContext(), body, c.Context().Conn(), s.opts.Timeouts.Read, s.opts.Timeouts.Request)
	defer stop()
	m, err := svc.Upload(ctx, utils.CopyString(c.Params("id")), pb, n)
	if err != nil {
		c.Context().SetConnectionClose() // the rest of a refused body is not read
		return cmp.Or(pb.stalledError(err), err)
	}
	return c.JSON(newMediaResponse(m))
}

func (s *Server) handleMediaComplete(c *fiber.Ctx) error {
	svc := s.opts.Media
	m, err := svc.Complete(c.UserContext(), utils.CopyString(c.Params("id")))
	if err != nil {
		return err
	}
	return c.JSON(newMediaResponse(m))
}

func (s *Server) handleMediaGet(c *fiber.Ctx) error {
	svc := s.opts.Media
	v, err := svc.Get(c.UserContext(), utils.CopyString(c.Params("id")))
	if err != nil {
		return err
	}
	res := newMediaResponse(&v.Media)
	res.URLs = &mediaURLs{Original: v.Original, Thumbnail: v.Thumbnail}
	if !v.ExpiresAt.IsZero() {
		res.URLs.ExpiresAt = &v.ExpiresAt
	}
	return c.JSON(res)
}

type missingMedia struct {
	ID        string          `json:"id"`
	Status    string          `json:"status"`
	Announced bool            `json:"announced"`
	Record    missingRecordID `json:"record"`
}

type missingRecordID struct {
	Collection string `json:"collection"`
	ID         string `json:"id"`
	SiteID     string `json:"site_id"`
}

func (s *Server) handleMediaList(c *fiber.Ctx) error {
	svc := s.opts.Media
	if st := c.Query("status"); st != fieldsync.MediaPending {
		return fieldsync.FieldErrorf("status", "required; only status=pending is supported")
	}
	missing, err := svc.ListMissing(c.UserContext(), utils.CopyString(c.Query("site_id")))
	if err != nil {
		return err
	}
	out := make([]missingMedia, len(missing))
	for i, m := range missing {
		out[i] = missingMedia{ID: m.MediaID, Status: fieldsync.MediaPending, Announced: m.Announced,
			Record: missingRecordID{Collection: m.Record.Collection, ID: m.Record.ID, SiteID: m.Record.SiteID}}
	}
	return c.JSON(fiber.Map{"media": out})
}

// multipartResponse is the state of a resumable upload.
type multipartResponse struct {
	ID        string          `json:"id"`
	Status    string          `json:"status"`
	UploadID  string          `json:"upload_id,omitempty"`
	PartSize  int64           `json:"part_size,omitempty"`
	PartCount int             `json:"part_count,omitempty"`
	Parts     []multipartPart `json:"parts"`
	Assembled bool            `json:"assembled,omitempty"`
}

type multipartPart struct {
	Number int    `json:"number"`
	Size   int64  `json:"size"`
	ETag   string `json:"etag,omitempty"`
}

func newMultipartResponse(r *media.Resumable) multipartResponse {
	out := multipartResponse{ID: r.Media.ID, Status: r.Media.Status, UploadID: r.UploadID, PartSize: r.PartSize,
		PartCount: r.PartCount, Parts: make([]multipartPart, len(r.Parts)), Assembled: r.Assembled}
	for i, p := range r.Parts {
		out.Parts[i] = multipartPart{Number: p.Number, Size: p.Size, ETag: p.ETag}
	}
	return out
}

func (s *Server) handleMultipartStart(c *fiber.Ctx) error {
	r, err := s.opts.Media.StartResumable(c.UserContext(), utils.CopyString(c.Params("id")))
	if err != nil {
		return err
	}
	return c.JSON(newMultipartResponse(r))
}

func (s *Server) handleMultipartState(c *fiber.Ctx) error {
	r, err := s.opts.Media.ResumableState(c.UserContext(), utils.CopyString(c.Params("id")))
	if err != nil {
		return err
	}
	return c.JSON(newMultipartResponse(r))
}

func (s *Server) handleMultipartAbort(c *fiber.Ctx) error {
	if err := s.opts.Media.AbortResumable(c.UserContext(), utils.CopyString(c.Params("id"))); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type partsRequest struct {
	Parts []struct {
		Number int    `json:"number"`
		CRC32C string `json:"crc32c"`
		MD5    string `json:"md5"`
	} `json:"parts"`
}

type partsResponse struct {
	Parts     []partUpload `json:"parts"`
	ExpiresAt time.Time    `json:"expires_at"`
}

type partUpload struct {
	Number  int               `json:"number"`
	Size    int64             `json:"size"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

func (s *Server) handleMultipartParts(c *fiber.Ctx) error {
	var req partsRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	reqs := make([]media.PartRequest, len(req.Parts))
	for i, p := range req.Parts {
		reqs[i] = media.PartRequest{Number: p.Number, CRC32C: p.CRC32C, MD5: p.MD5}
	}
	ups, exp, err := s.opts.Media.PresignParts(c.UserContext(), utils.CopyString(c.Params("id")), reqs)
	if err != nil {
		return err
	}
	out := partsResponse{Parts: make([]partUpload, len(ups)), ExpiresAt: exp}
	for i, u := range ups {
		out.Parts[i] = partUpload{Number: u.Number, Size: u.Size, Method: "PUT", URL: u.URL, Headers: u.Headers}
	}
	return c.JSON(out)
}

// handleMediaStamped answers the stamped JPEG through the API (it is made
// for the caller: the citing record it names is one they may read).
func (s *Server) handleMediaStamped(c *fiber.Ctx) error {
	id := utils.CopyString(c.Params("id"))
	b, err := s.opts.Media.Stamped(c.UserContext(), id)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "image/jpeg")
	c.Set(fiber.HeaderContentDisposition, `inline; filename="`+id+`.stamped.jpg"`)
	c.Set(fiber.HeaderCacheControl, "private, max-age=300")
	return c.Send(b)
}
