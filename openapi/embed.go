// Package openapi holds fieldsync's wire contract, openapi.yaml, embedded so
// the server serves exactly the document the tests check it against.
package openapi

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

//go:embed openapi.yaml
var spec []byte

// YAML returns the contract.
func YAML() []byte { return spec }

// Document is the subset of OpenAPI the route check and the docs page read.
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

var (
	htmlOnce sync.Once
	htmlPage []byte
	htmlErr  error
)

// HTML renders the contract as a self-contained page: no scripts, no external assets.
func HTML() ([]byte, error) {
	htmlOnce.Do(func() {
		d, err := Parse()
		if err != nil {
			htmlErr = err
			return
		}
		type op struct {
			Method, Path string
			Operation
			Codes []string
			Body  string
		}
		var ops []op
		for p, m := range d.Paths {
			for method, o := range m {
				var codes []string
				for c, r := range o.Responses {
					desc := r.Description
					if desc == "" {
						desc = strings.TrimPrefix(r.Ref, "#/components/responses/")
					}
					codes = append(codes, c+" — "+desc)
				}
				sort.Strings(codes)
				body := ""
				if o.RequestBody != nil {
					b, _ := yaml.Marshal(o.RequestBody)
					body = string(b)
				}
				ops = append(ops, op{strings.ToUpper(method), p, o, codes, body})
			}
		}
		sort.Slice(ops, func(i, j int) bool {
			if ops[i].Path != ops[j].Path {
				return ops[i].Path < ops[j].Path
			}
			return ops[i].Method < ops[j].Method
		})
		var schemas []struct{ Name, YAML string }
		names := make([]string, 0, len(d.Components.Schemas))
		for n := range d.Components.Schemas {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			b, _ := yaml.Marshal(d.Components.Schemas[n])
			schemas = append(schemas, struct{ Name, YAML string }{n, string(b)})
		}
		var buf bytes.Buffer
		htmlErr = docsTemplate.Execute(&buf, map[string]any{"Doc": d, "Ops": ops, "Schemas": schemas})
		htmlPage = buf.Bytes()
	})
	return htmlPage, htmlErr
}

var docsTemplate = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Doc.Info.Title}} API v{{.Doc.Info.Version}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{border-bottom:1px solid #ddd;margin-top:2.5rem}.op{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}
.m{font-weight:700;display:inline-block;min-width:4.5rem}.GET{color:#0a6}.POST{color:#06c}.PUT{color:#a60}.PATCH{color:#a0a}.DELETE{color:#c00}
code,pre{font:13px ui-monospace,monospace;background:#f6f6f6}pre{padding:.5rem;overflow:auto}nav a{margin-right:1rem}
</style></head><body>
<h1>{{.Doc.Info.Title}} API v{{.Doc.Info.Version}}</h1>
<p>{{.Doc.Info.Summary}}</p><pre>{{.Doc.Info.Description}}</pre>
<p>Machine-readable: <a href="/openapi.yaml">/openapi.yaml</a></p>
<h2>Operations</h2>
{{range .Ops}}<div class="op" id="{{.OperationID}}"><p><span class="m {{.Method}}">{{.Method}}</span> <code>{{.Path}}</code> — {{.Summary}}</p>
{{if .Description}}<pre>{{.Description}}</pre>{{end}}
{{if .Body}}<details><summary>Request body</summary><pre>{{.Body}}</pre></details>{{end}}
<ul>{{range .Codes}}<li>{{.}}</li>{{end}}</ul></div>
{{end}}
<h2>Schemas</h2>
{{range .Schemas}}<h3 id="schema-{{.Name}}">{{.Name}}</h3><pre>{{.YAML}}</pre>{{end}}
</body></html>`))
