package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"fieldsync/auth"

	"github.com/golang-jwt/jwt/v5"
)

// runIn runs the fieldsync binary with args in the working directory cwd and env; it returns stdout.
func runIn(tb testing.TB, cwd string, env []string, args ...string) string {
	tb.Helper()
	cmd := exec.Command(fieldsyncBinary(tb), args...)
	cmd.Dir = cwd
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("fieldsync %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// TestRelativeDataDirKeepsKeysOutOfTheObjectStore runs fieldsync as
// operators do — `./data`, relative to the directory it is started in — and
// checks where every file went. The embedded S3 gateway changes the process's
// working directory to its object root at start; a path still relative then
// put the JWT private key inside a bucket (objects/data/keys, readable through
// S3), and `fieldsync keys rotate` wrote where the server never read.
func TestRelativeDataDirKeepsKeysOutOfTheObjectStore(t *testing.T) {
	cwd := t.TempDir()
	env := []string{"FIELDSYNC_DATA_DIR=data", "FIELDSYNC_JWT_KEY_RELOAD=100ms", "FIELDSYNC_DEFAULT_TENANT=demo"}
	runIn(t, cwd, env, "user", "add", "--tenant", "demo", "--username", "keys.guard", "--password", "keys-pass-2026",
		"--name", "Keys Guard", "--role", "guard", "--sites", "site-1")
	p := startProcessIn(t, cwd, env...)

	data := filepath.Join(cwd, "data")
	keyDir := filepath.Join(data, "keys")
	first := pemFiles(t, keyDir)
	if len(first) != 1 {
		t.Fatalf("got key files %v in %s, want the one generated at first start", first, keyDir)
	}
	// Nothing but data/ in the working directory, and nothing key-like in the object store.
	if ents, _ := os.ReadDir(cwd); len(ents) != 1 || ents[0].Name() != "data" {
		t.Errorf("got %v in the working directory, want only data/", names(ents))
	}
	for _, sub := range []string{"objects", "objmeta"} {
		root := filepath.Join(data, sub)
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			rel, _ := filepath.Rel(root, path)
			if d.IsDir() && d.Name() == "keys" || strings.HasSuffix(d.Name(), ".pem") {
				t.Errorf("key-like %s in the object store (%s)", rel, sub)
			} else if !d.IsDir() {
				if b, _ := os.ReadFile(path); bytes.Contains(b, []byte("PRIVATE KEY")) {
					t.Errorf("private key in the object store: %s/%s", sub, rel)
				}
			}
			return nil
		})
	}

	tok := loginToken(t, p.Base, "keys.guard", "keys-pass-2026")

	// Rotate the same way: relative data dir, while the server runs.
	out := runIn(t, cwd, env, "keys", "rotate")
	kid := regexp.MustCompile(`new signing key (\S+) in (\S+):`).FindStringSubmatch(out)
	if kid == nil || kid[2] != keyDir {
		t.Fatalf("keys rotate said %q, want a new key in %s", out, keyDir)
	}
	files := pemFiles(t, keyDir)
	if len(files) != 2 {
		t.Fatalf("after keys rotate: got key files %v in %s, want 2", files, keyDir)
	}
	var next *auth.Key
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(keyDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if k, err := auth.ParseKeyPEM(b); err == nil && k.ID == kid[1] {
			next = k
		}
	}
	if next == nil {
		t.Fatalf("no file in %s holds key %s (%v)", keyDir, kid[1], files)
	}

	// The running server publishes the new key at its next reload: its JWKS
	// lists it and a token it signed verifies (the server itself signs with it
	// only auth.KeyActivation later, so the test signs one with the key file).
	for deadline := time.Now().Add(time.Minute); !jwksHas(t, p.Base, next.ID); {
		if time.Now().After(deadline) {
			t.Fatalf("the server never published key %s\n%s", next.ID, p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
		t.Fatal(err)
	}
	resigned := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	resigned.Header["kid"] = next.ID
	raw, err := resigned.SignedString(next.Private)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, token string
	}{{"the login's token (old key)", tok}, {"the same claims signed with the rotated key", raw}} {
		req, _ := http.NewRequest("GET", p.Base+"/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: got /v1/me %d %s, want 200", c.name, resp.StatusCode, body)
		}
	}
}

// TestKeysRotateOnAFreshKeyDir: rotating a directory with no key yet makes
// the first key and the rotated one in the same second; both get a name
// (it failed with "file exists").
func TestKeysRotateOnAFreshKeyDir(t *testing.T) {
	dir := t.TempDir()
	env := envOf(map[string]string{"FIELDSYNC_DATA_DIR": dir})
	for i := range 3 {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"keys", "rotate"}, env, &out, io.Discard); err != nil {
			t.Fatalf("keys rotate #%d on a fresh key dir: %v", i+1, err)
		}
	}
	files := pemFiles(t, filepath.Join(dir, "keys"))
	if len(files) != 4 {
		t.Fatalf("got key files %v, want the first key and three rotated ones", files)
	}
	if _, err := auth.LoadKeyDir(filepath.Join(dir, "keys"), 15*time.Minute, time.Now()); err != nil {
		t.Fatalf("the key dir does not load: %v", err)
	}
}

func pemFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatalf("key dir: %v", err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".pem") {
			out = append(out, e.Name())
		}
	}
	return out
}

func names(ents []os.DirEntry) []string {
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func loginToken(tb testing.TB, base, username, password string) string {
	tb.Helper()
	body, _ := json.Marshal(map[string]string{"username": username, "password": password, "device_id": "keys-device"})
	resp, err := http.Post(base+"/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil || out.AccessToken == "" {
		tb.Fatalf("login %s: %d %s", username, resp.StatusCode, b)
	}
	return out.AccessToken
}

func jwksHas(tb testing.TB, base, kid string) bool {
	tb.Helper()
	resp, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		tb.Fatal(err)
	}
	for _, k := range set.Keys {
		if k.Kid == kid {
			return true
		}
	}
	return false
}
