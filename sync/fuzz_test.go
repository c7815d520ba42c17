package sync_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/devstack/devtest"
	"fieldsync/field"
	fsync "fieldsync/sync"

	"github.com/google/uuid"
)

var fuzzKey = []byte("fuzz-cursor-key-0123456789abcdef")

// FuzzDecodeCursor: DecodeCursor never panics, whatever it accepts re-encodes
// to a cursor that decodes equal, and flipping any byte of a valid cursor
// makes it refused.
func FuzzDecodeCursor(f *testing.F) {
	seeds := []fsync.Cursor{
		{Tenant: "acme", User: "u-guard1", Pos: 0, Role: fieldsync.RoleGuard, Sites: []string{"s1"}, Issued: 1700000000},
		{Tenant: "acme", User: "u-admin", Pos: 42, Own: 44, Role: fieldsync.RoleAdmin, Issued: 1700000000},
		{Tenant: "acme", User: "u-tech", Pos: 7, Role: fieldsync.RoleTechnician, Sites: []string{"s1", "s2"}, Issued: 1,
			Scan: &fsync.Scan{From: 3, Sites: []string{"s2"}, Boot: true}},
	}
	for _, c := range seeds {
		f.Add(fsync.EncodeCursor(fuzzKey, c))
	}
	f.Add("")
	f.Add(".")
	f.Add("e30.AAAAAAAAAAAAAAAAAAAAAA")
	f.Add(strings.Repeat("A", fsync.MaxCursorBytes+1))
	f.Fuzz(func(t *testing.T, s string) {
		c, err := fsync.DecodeCursor(fuzzKey, s)
		if err != nil {
			if code := fieldsync.ErrorCode(err); code != fieldsync.EInvalid && !(code == fieldsync.ECursorExpired && otherKey(s)) {
				t.Fatalf("refusal with code %s: %v", fieldsync.ErrorCode(err), err)
			}
			// Re-sign whatever the fuzzer found and check the signed form round-trips.
			short := s[:min(len(s), 100)]
			c = fsync.Cursor{Tenant: short, User: short, Pos: int64(len(s)), Sites: []string{short}, Issued: int64(len(s))}
		}
		enc := fsync.EncodeCursor(fuzzKey, c)
		back, err := fsync.DecodeCursor(fuzzKey, enc)
		if err != nil {
			t.Fatalf("re-encoded cursor refused: %v", err)
		}
		again, err := fsync.DecodeCursor(fuzzKey, fsync.EncodeCursor(fuzzKey, back))
		if err != nil || !reflect.DeepEqual(again, back) {
			t.Fatalf("re-encoded cursor differs (%v):\n%+v\n%+v", err, again, back)
		}
		if _, err := fsync.DecodeCursor([]byte("another key"), enc); fieldsync.ErrorCode(err) != fieldsync.ECursorExpired {
			t.Fatalf("cursor under another key: got %v, want cursor_expired", err)
		}
		// Flip one byte (chosen by the input) of the valid encoding.
		i := len(s) % len(enc)
		flipped := []byte(enc)
		flipped[i] ^= 1 + byte(len(s)%127)
		if _, err := fsync.DecodeCursor(fuzzKey, string(flipped)); err == nil {
			t.Fatalf("cursor with byte %d flipped accepted: %q", i, flipped)
		}
	})
}

// otherKey reports whether s is a cursor body naming a key other than fuzzKey.
func otherKey(s string) bool {
	c, ok := cursorBody(s)
	mine, _ := cursorBody(fsync.EncodeCursor(fuzzKey, fsync.Cursor{}))
	return ok && c.KeyID != "" && c.KeyID != mine.KeyID
}

// cursorBody reads the unsigned body of encoded cursor s.
func cursorBody(s string) (fsync.Cursor, bool) {
	body, _, _ := strings.Cut(s, ".")
	b, err := base64.RawURLEncoding.DecodeString(body)
	var c fsync.Cursor
	return c, err == nil && json.Unmarshal(b, &c) == nil
}

// FuzzValidateMutation feeds JSON-decoded mutations to the push validation of
// the production collections: it never panics and never accepts a field or
// argument name that starts with "$" or contains ".".
func FuzzValidateMutation(f *testing.F) {
	e, err := fsync.Open(context.Background(), devtest.MustOpenStore(f).Sync(), fsync.Options{Collections: field.Collections(field.Options{})})
	if err != nil {
		f.Fatal(err)
	}
	id := "5b0f3c2e-8a51-4d3b-9c7e-0d6f1a2b3c4d"
	seeds := []fieldsync.Mutation{
		createInspection(id, "s1"),
		createInspection(id, "s1", "description", "broken tap", "photo_ids", []string{id}),
		update(fieldsync.CollInspections, id, 3, "description", "fixed"),
		action(fieldsync.CollInspections, id, 2, "close"),
		del(fieldsync.CollInspections, id, 4),
		{MutationID: "0190c3a4-5b6c-7d8e-9f00-000000000001", Collection: fieldsync.CollWorkOrders, Op: fieldsync.OpCreate, ID: id,
			Fields: fields("site_id", "s1", "title", "leak", "priority", "urgent"), ClientTime: time.Now().Format(time.RFC3339Nano)},
		{MutationID: "0190c3a4-5b6c-7d8e-9f00-000000000002", Collection: fieldsync.CollInspections, Op: fieldsync.OpUpdate, ID: id, BaseVersion: 1,
			Fields: fields("$set", 1, "a.b", 2)},
	}
	for _, m := range seeds {
		f.Add(string(raw(m)))
	}
	f.Add(`{"mutation_id":"0190c3a4-5b6c-7d8e-9f00-000000000003","collection":"complaints","op":"create","id":"` + id + `","fields":{"site_id":"s1","gps":{"lat":1,"lng":2}}}`)
	f.Add(`{"mutation_id":"0190c3a4-5b6c-7d8e-9f00-000000000004","collection":"inspections","op":"action","id":"` + id + `","base_version":1,"action":"assign","args":{"$x":1}}`)
	// Mutation ids that are not UUIDs (issue #15 item 15).
	for _, mid := range []string{"$where", "\x00", "../../x", "m1", strings.ToUpper(id) + " ", "{" + id + "}", "urn:uuid:" + id} {
		m := createInspection(id, "s1")
		m.MutationID = mid
		f.Add(string(raw(m)))
	}
	f.Fuzz(func(t *testing.T, body string) {
		var m fieldsync.Mutation
		if json.Unmarshal([]byte(body), &m) != nil {
			return
		}
		mid := m.MutationID
		if err := e.Validate("acme", &m); err != nil {
			if fieldsync.ErrorCode(err) != fieldsync.EInvalid {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		if _, err := uuid.Parse(mid); err != nil || len(mid) != 36 || m.MutationID != mid {
			t.Fatalf("mutation_id %q accepted (kept as %q): want a UUID, kept as sent", mid, m.MutationID)
		}
		for name, v := range m.Fields {
			checkNames(t, "fields."+name, name, v)
		}
		for name, v := range m.Args {
			checkNames(t, "args."+name, name, v)
		}
	})
}

// checkNames fails t when name, or any object key inside v, is not a safe
// document field name.
func checkNames(t *testing.T, path, name string, v json.RawMessage) {
	t.Helper()
	if strings.HasPrefix(name, "$") || strings.Contains(name, ".") {
		t.Fatalf("accepted unsafe name %q", path)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(v, &obj) == nil {
		for k, x := range obj {
			checkNames(t, path+"."+k, k, x)
		}
		return
	}
	var list []json.RawMessage
	if json.Unmarshal(v, &list) == nil {
		for _, x := range list {
			checkNames(t, path+"[]", "", x)
		}
	}
}

// TestCursorEveryByteFlipRefused flips every bit of every byte of a valid cursor.
func TestCursorEveryByteFlipRefused(t *testing.T) {
	t.Parallel()
	enc := fsync.EncodeCursor(fuzzKey, fsync.Cursor{Tenant: "acme", User: "u1", Pos: 9, Role: fieldsync.RoleGuard, Sites: []string{"s1"}, Issued: 1})
	for i := range enc {
		for bit := range 8 {
			b := []byte(enc)
			b[i] ^= 1 << bit
			if _, err := fsync.DecodeCursor(fuzzKey, string(b)); err == nil {
				t.Errorf("byte %d bit %d flipped (%q -> %q) accepted", i, bit, enc[i], b[i])
			}
		}
	}
}
