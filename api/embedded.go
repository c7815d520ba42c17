package api

import (
	"io/fs"
	"mime"
	"path"

	"fieldsync"

	"github.com/gofiber/fiber/v2"
)

// embeddedApp serves a web app built into the binary (no CDN: it works on
// air-gapped sites): its page at the route itself, its assets by name under
// /assets/ — never the page again nor the build stamp. headers go on every answer.
type embeddedApp struct {
	files   fs.FS
	headers map[string]string
}

// register mounts the app at prefix (e.g. /docs).
func (a embeddedApp) register(r fiber.Router, prefix string) {
	r.Get(prefix, func(c *fiber.Ctx) error { return a.send(c, "index.html") })
	r.Get(prefix+"/assets/:name", func(c *fiber.Ctx) error {
		name := c.Params("name")
		if name == "index.html" || name == "STAMP" {
			return &fieldsync.Error{Code: fieldsync.ENotFound, Message: "no such asset"}
		}
		return a.send(c, name)
	})
}

func (a embeddedApp) send(c *fiber.Ctx, name string) error {
	b, err := fs.ReadFile(a.files, name)
	if err != nil {
		return &fieldsync.Error{Code: fieldsync.ENotFound, Message: "no such asset"}
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	c.Set(fiber.HeaderContentType, ct)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	for k, v := range a.headers {
		c.Set(k, v)
	}
	return c.Send(b)
}
