package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fieldsync"
	"fieldsync/field"
	"fieldsync/mongodb"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestImportUnitsAndVerifyAudit: `fieldsync import units` refuses a file
// with a bad line (naming it, importing nothing) and imports a good one;
// `fieldsync audit verify` passes the chains the import wrote and names the
// link an edit of the database broke.
func TestImportUnitsAndVerifyAudit(t *testing.T) {
	dir := t.TempDir()
	env := envOf(map[string]string{"FIELDSYNC_DATA_DIR": dir})
	ctx := context.Background()
	good := "site_id,building,unit_number,floor,owner_name,owner_phone\n" +
		fieldsync.DemoSiteA + ",1号楼,101,1,张伟,13800000001\n" +
		fieldsync.DemoSiteA + ",1号楼,102,1,,\n"
	bad := strings.Replace(good, ",102,1,", ",102,一楼,", 1)
	goodFile, badFile := filepath.Join(dir, "good.csv"), filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(goodFile, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(badFile, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(ctx, []string{"import", "units", "--tenant", "demo", "--file", badFile}, env, &out, io.Discard)
	if err == nil || !strings.Contains(out.String(), "line 3.floor") {
		t.Fatalf("bad file: got %v and\n%s\nwant line 3.floor named", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"import", "units", "--tenant", "demo", "--file", goodFile}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "2 units created") || !strings.Contains(out.String(), "1 households created") {
		t.Fatalf("import: %s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"audit", "verify", "--tenant", "demo"}, env, &out, io.Discard); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "records 3, entries 3") || !strings.HasSuffix(out.String(), "ok\n") {
		t.Fatalf("verify: %s", out.String())
	}
	// Someone with database access rewrites the owner's name in the trail.
	cfg, err := LoadConfig(env)
	if err != nil {
		t.Fatal(err)
	}
	app, err := OpenApp(ctx, cfg, newLogger(cfg, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	hid := field.HouseholdID(field.UnitID("demo", fieldsync.DemoSiteA, "1号楼", "101"))
	audit := app.store.DB.Collection(mongodb.AuditCollection)
	var doc struct {
		Changes string `bson:"ch"`
	}
	if err := audit.FindOne(ctx, bson.M{"r": hid}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.UpdateOne(ctx, bson.M{"r": hid}, bson.M{"$set": bson.M{"ch": strings.Replace(doc.Changes, "张伟", "李四", 1)}}); err != nil {
		t.Fatal(err)
	}
	app.Close()
	out.Reset()
	err = run(ctx, []string{"audit", "verify", "--tenant", "demo", "--collection", "households"}, env, &out, io.Discard)
	if !errors.Is(err, errAuditBroken) || !strings.Contains(out.String(), "BROKEN households/"+hid+" version 1") {
		t.Fatalf("verify after tampering: got %v and\n%s", err, out.String())
	}
}
