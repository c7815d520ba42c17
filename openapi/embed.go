// Package openapi holds fieldsync's wire contract, openapi.yaml, embedded so
// the server serves exactly the document the tests check it against.
package openapi

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed openapi.yaml
var spec []byte

//go:embed docs/dist
var docs embed.FS

// Docs returns the /docs page: index.html, Swagger UI's bundle and the page's
// own script and style, built by docs/build.mjs from the npm lockfile and
// docs/src, and committed so the server needs only Go.
func Docs() fs.FS {
	sub, err := fs.Sub(docs, "docs/dist")
	if err != nil {
		panic(err) // the path is a constant of this package
	}
	return sub
}

// YAML returns the contract.
func YAML() []byte { return spec }

// Document is the subset of OpenAPI the route check reads.
type Document struct {
	Info struct {
		Title       string `yaml:"title"`
		Version     string `yaml:"version"`
		Summary     string `yaml:"summary"`
		Description string `yaml:"description"`
	} `yaml:"info"`
	Paths      map[string]map[string]Operation `yaml:"paths"`
	Components struct {
		Schemas map[string]any `yaml:"schemas"`
	} `yaml:"components"`
}

// Operation is one method of one path.
type Operation struct {
	Summary     string              `yaml:"summary"`
	Description string              `yaml:"description"`
	OperationID string              `yaml:"operationId"`
	Tags        []string            `yaml:"tags"`
	Security    *[]map[string]any   `yaml:"security"`
	Parameters  []map[string]any    `yaml:"parameters"`
	RequestBody map[string]any      `yaml:"requestBody"`
	Responses   map[string]Response `yaml:"responses"`
}

// Response is one documented response.
type Response struct {
	Description string `yaml:"description"`
	Ref         string `yaml:"$ref"`
}

// Parse decodes the embedded contract.
func Parse() (*Document, error) {
	var d Document
	if err := yaml.Unmarshal(spec, &d); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return &d, nil
}

// Routes lists "METHOD /path" for every operation, with {param} written as :param (Fiber's form).
func (d *Document) Routes() []string {
	var out []string
	for p, ops := range d.Paths {
		fp := p
		for strings.Contains(fp, "{") {
			i := strings.Index(fp, "{")
			j := strings.Index(fp, "}")
			fp = fp[:i] + ":" + fp[i+1:j] + fp[j+1:]
		}
		for m := range ops {
			switch m {
			case "get", "post", "put", "patch", "delete":
				out = append(out, strings.ToUpper(m)+" "+fp)
			}
		}
	}
	sort.Strings(out)
	return out
}
