// Package console holds the customer-service desk's web app, built from
// console/src (Preact and Chart.js on the TypeScript client) by build.mjs and
// committed in dist/, so the server serves it with nothing but Go.
package console

import (
	"embed"
	"io/fs"
)

//go:embed dist
var dist embed.FS

// Files returns the built app: index.html, app.js, app.css and STAMP (what
// the build was made from).
func Files() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the path is a constant of this package
	}
	return sub
}
