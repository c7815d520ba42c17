package field_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"fieldsync/field"
	fsync "fieldsync/sync"

	"go.yaml.in/yaml/v3"
)

var updateSpec = flag.Bool("update", false, "rewrite the generated collection schemas in openapi/openapi.yaml")

const (
	beginBlock = "    # BEGIN collections: generated from the declarations by `go test ./field -run TestOpenAPIDescribesCollections -update`\n"
	endBlock   = "    # END collections\n"
)

// TestOpenAPIDescribesCollections fails unless openapi.yaml describes every
// declared collection's record schema and every action with its arguments
// exactly as the engine validates them.
func TestOpenAPIDescribesCollections(t *testing.T) {
	_, self, _, _ := runtime.Caller(0) // the devstack changes the working directory
	specPath := filepath.Join(filepath.Dir(self), "..", "openapi", "openapi.yaml")
	spec, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	want := collectionSchemas(t)
	i, j := bytes.Index(spec, []byte(beginBlock)), bytes.Index(spec, []byte(endBlock))
	if *updateSpec {
		if i < 0 || j < i {
			i = bytes.Index(spec, []byte("\n  schemas:\n")) + len("\n  schemas:\n")
			j = i
		} else {
			j += len(endBlock)
		}
		out := append(append(append([]byte{}, spec[:i]...), want...), spec[j:]...)
		if err := os.WriteFile(specPath, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if i < 0 || j < i || string(spec[i:j+len(endBlock)]) != string(want) {
		t.Fatal("openapi.yaml does not describe the declared collections; run go test ./field -run TestOpenAPIDescribesCollections -update")
	}
}

func collectionSchemas(t *testing.T) []byte {
	t.Helper()
	schemas := map[string]any{
		"GPS": map[string]any{"type": "object", "required": []string{"lat", "lng"}, "additionalProperties": false,
			"properties": map[string]any{"lat": num(-90, 90), "lng": num(-180, 180), "accuracy": num(0, 1e6)}},
	}
	base := map[string]any{
		"id":              map[string]any{"type": "string", "format": "uuid", "description": "client-generated, never changes"},
		"version":         map[string]any{"type": "integer", "readOnly": true},
		"created_at":      map[string]any{"type": "string", "format": "date-time", "readOnly": true},
		"created_by":      map[string]any{"type": "string", "readOnly": true},
		"updated_at":      map[string]any{"type": "string", "format": "date-time", "readOnly": true},
		"updated_by":      map[string]any{"type": "string", "readOnly": true},
		"created_by_name": map[string]any{"type": "string", "readOnly": true, "description": "display name of created_by"},
		"updated_by_name": map[string]any{"type": "string", "readOnly": true, "description": "display name of updated_by"},
	}
	var allActions, collections []string
	var dispatch, docs []any
	for _, c := range field.Collections(field.Options{}) {
		collections = append(collections, c.Name)
		var names []string
		for _, a := range c.Actions {
			names = append(names, a.Name)
			if !slices.Contains(allActions, a.Name) {
				allActions = append(allActions, a.Name)
			}
			dispatch = append(dispatch, map[string]any{
				"if": map[string]any{"required": []string{"collection", "op", "action"}, "properties": map[string]any{
					"collection": map[string]any{"const": c.Name}, "op": map[string]any{"const": "action"}, "action": map[string]any{"const": a.Name}}},
				"then": map[string]any{"properties": map[string]any{"args": map[string]any{"$ref": "#/components/schemas/action." + c.Name + "." + a.Name}}},
			})
		}
		onAction := map[string]any{"required": []string{"collection", "op"}, "properties": map[string]any{
			"collection": map[string]any{"const": c.Name}, "op": map[string]any{"const": "action"}}}
		if names == nil {
			dispatch = append(dispatch, map[string]any{"not": onAction,
				"description": c.Name + " has no actions"})
		} else {
			slices.Sort(names)
			schemas["actions."+c.Name] = map[string]any{"type": "string", "enum": names,
				"description": fmt.Sprintf("The actions of %s (op: action); the arguments of each are action.%s.<name>.", c.Name, c.Name)}
			dispatch = append(dispatch, map[string]any{"if": onAction,
				"then": map[string]any{"properties": map[string]any{"action": map[string]any{"$ref": "#/components/schemas/actions." + c.Name}}}})
		}
		docs = append(docs, map[string]any{
			"if":   map[string]any{"required": []string{"collection", "op"}, "properties": map[string]any{"collection": map[string]any{"const": c.Name}, "op": map[string]any{"const": "upsert"}}},
			"then": map[string]any{"required": []string{"doc"}, "properties": map[string]any{"doc": map[string]any{"$ref": "#/components/schemas/record." + c.Name}}},
		})
		props := map[string]any{}
		for k, v := range base {
			props[k] = v
		}
		required := []string{"id", "version"}
		for _, f := range c.Fields {
			props[f.Name] = fieldSchema(f, true)
			if f.Required {
				required = append(required, f.Name)
			}
		}
		desc := fmt.Sprintf("A %s record as pull, bootstrap and push results carry it. readOnly fields are set by the server only (actions, jobs, computed).", c.Name)
		if c.Redact != nil {
			desc += " owner_phone reaches guards and technicians masked (all but the last four digits)."
		}
		desc += " Who may create, update and delete what (anything else is rejected forbidden naming the field) is listed in x-write-rules."
		schemas["record."+c.Name] = map[string]any{"type": "object", "description": desc, "required": required, "properties": props,
			"x-write-rules": c.RuleText()}
		for _, a := range c.Actions {
			ap := map[string]any{}
			var req []string
			for _, f := range a.Args {
				ap[f.Name] = fieldSchema(f, false)
				if f.Required {
					req = append(req, f.Name)
				}
			}
			s := map[string]any{"type": "object", "additionalProperties": false, "properties": ap,
				"description": fmt.Sprintf("Arguments of action %s on %s. %s", a.Name, c.Name, actionRule(c, a))}
			if req != nil {
				s["required"] = req
			}
			schemas["action."+c.Name+"."+a.Name] = s
		}
	}
	slices.Sort(allActions)
	schemas["ActionName"] = map[string]any{"type": "string", "enum": allActions,
		"description": "Every action name of every collection; MutationActions narrows it to the mutation's collection (actions.<collection>)."}
	schemas["MutationActions"] = map[string]any{"allOf": dispatch,
		"description": "Per collection, the action names it accepts (actions.<collection>) and, per action, the schema of args (action.<collection>.<action>). Collections without actions accept no op: action."}
	schemas["Collection"] = map[string]any{"type": "string", "enum": collections, "description": "The synced collections."}
	schemas["ChangeDocs"] = map[string]any{"allOf": docs,
		"description": "Per collection, the schema of an upsert's doc (record.<collection>)."}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(schemas); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	var out strings.Builder
	out.WriteString(beginBlock)
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			out.WriteString("    " + line)
		}
	}
	out.WriteString(endBlock)
	return []byte(out.String())
}

func num(lo, hi float64) map[string]any {
	return map[string]any{"type": "number", "minimum": lo, "maximum": hi}
}

func actionRule(c *fsync.Collection, a fsync.Action) string {
	for _, tr := range c.Machine {
		if tr.Action == a.Name {
			who := "only the record's assignee"
			if !tr.AssigneeOnly {
				var rs []string
				for _, r := range tr.Roles {
					rs = append(rs, string(r))
				}
				who = "roles " + strings.Join(rs, ", ")
			}
			return fmt.Sprintf("Allowed when %s is one of %s (else invalid_transition); moves it to %s; %s (else forbidden).",
				c.StateField, strings.Join(tr.From, ", "), tr.To, who)
		}
	}
	if len(a.Roles) > 0 {
		var rs []string
		for _, r := range a.Roles {
			rs = append(rs, string(r))
		}
		return "Roles " + strings.Join(rs, ", ") + " (else forbidden)."
	}
	return ""
}

func fieldSchema(f fsync.Field, record bool) map[string]any {
	s := map[string]any{}
	str := func(format string) map[string]any {
		m := map[string]any{"type": "string"}
		if format != "" {
			m["format"] = format
		}
		return m
	}
	maxItems := f.MaxItems
	if maxItems <= 0 {
		maxItems = fsync.DefaultMaxItems
	}
	maxLen := int(f.Max)
	if maxLen <= 0 {
		maxLen = fsync.DefaultMaxString
	}
	switch f.Kind {
	case fsync.String:
		s = str("")
		s["maxLength"] = maxLen
	case fsync.Enum:
		s = str("")
		s["enum"] = f.Values
	case fsync.Int, fsync.Number:
		s["type"] = map[fsync.Kind]string{fsync.Int: "integer", fsync.Number: "number"}[f.Kind]
		if f.Min < f.Max {
			s["minimum"], s["maximum"] = f.Min, f.Max
		}
	case fsync.Bool:
		s["type"] = "boolean"
	case fsync.Time:
		s = str("date-time")
	case fsync.UUID:
		s = str("uuid")
	case fsync.Media:
		s = str("uuid")
		s["description"] = "a media id (POST /v1/media)"
	case fsync.GPS:
		s["$ref"] = "#/components/schemas/GPS"
	case fsync.UUIDList, fsync.MediaList, fsync.StringList:
		item := str("uuid")
		if f.Kind == fsync.StringList {
			item = map[string]any{"type": "string", "maxLength": maxLen}
		}
		s = map[string]any{"type": "array", "items": item, "maxItems": maxItems}
		if f.Kind == fsync.MediaList {
			s["description"] = "media ids (POST /v1/media)"
		}
	case fsync.ObjectList:
		props := map[string]any{}
		var req []string
		for _, it := range f.Item {
			props[it.Name] = fieldSchema(it, false)
			if it.Required {
				req = append(req, it.Name)
			}
		}
		item := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
		if req != nil {
			item["required"] = req
		}
		s = map[string]any{"type": "array", "items": item, "maxItems": maxItems}
	}
	if record {
		if !f.Client {
			s["readOnly"] = true
		}
		var notes []string
		if f.AppendOnly {
			notes = append(notes, "append-only: updates add elements (set union), never conflict")
		}
		if f.Immutable {
			notes = append(notes, "set on create only")
		}
		if f.Assignee {
			notes = append(notes, "the user the record is assigned to (scope)")
		}
		if d, ok := s["description"].(string); ok {
			notes = append([]string{d}, notes...)
		}
		if len(notes) > 0 {
			s["description"] = strings.Join(notes, "; ")
		}
		if f.Default != nil {
			s["default"] = f.Default
		}
	}
	if _, isRef := s["$ref"]; isRef && len(s) > 1 {
		ref := s["$ref"]
		delete(s, "$ref")
		s["allOf"] = []any{map[string]any{"$ref": ref}}
	}
	return s
}
