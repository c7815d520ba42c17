package auth_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"fieldsync/auth"
)

// TestKeyDirRotation: the key directory generates its first key, keeps it
// across loads; a rotation publishes the new key first, then signs with it,
// while the previous one verifies until the access-token lifetime has passed.
func TestKeyDirRotation(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "keys")
	ttl := 15 * time.Minute
	t0 := time.Unix(1_800_000_000, 0)
	ks, err := auth.LoadKeyDir(dir, ttl, t0)
	if err != nil {
		t.Fatal(err)
	}
	first := ks.Signer().ID
	again, err := auth.LoadKeyDir(dir, ttl, t0.Add(time.Hour))
	if err != nil || again.Signer().ID != first {
		t.Fatalf("reload: got %v, %v; want the same key %s", again.Signer(), err, first)
	}
	if fi, err := os.Stat(filepath.Join(dir, "ed25519-1800000000.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	t1 := t0.Add(2 * time.Hour)
	second, err := auth.AddKeyFile(dir, t1)
	if err != nil {
		t.Fatal(err)
	}
	// Published at once, signing only after the activation delay, so every
	// instance knows the key before a token signed with it reaches one.
	ks, err = auth.LoadKeyDir(dir, ttl, t1.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if ks.Signer().ID != first {
		t.Fatalf("got signer %s before activation, want the old key %s", ks.Signer().ID, first)
	}
	if _, ok := ks.Verifier(second, t1.Add(time.Second)); !ok || len(ks.JWKS(t1).Keys) != 2 {
		t.Fatal("the new key is not published before it signs")
	}
	active := t1.Add(auth.KeyActivation)
	ks, err = auth.LoadKeyDir(dir, ttl, active)
	if err != nil {
		t.Fatal(err)
	}
	if ks.Signer().ID != second {
		t.Fatalf("got signer %s after activation, want the new key %s", ks.Signer().ID, second)
	}
	if _, ok := ks.Verifier(first, active.Add(ttl)); !ok {
		t.Fatal("previous key no longer verifies while its tokens live")
	}
	if _, ok := ks.Verifier(first, active.Add(ttl+auth.Leeway+time.Second)); ok {
		t.Fatal("previous key still verifies after its last token expired")
	}
	// A running instance picks the reload up in place.
	live, _ := auth.LoadKeyDir(dir, ttl, t1.Add(time.Second))
	live.Replace(ks)
	if live.Signer().ID != second {
		t.Fatal("Replace did not switch the signer")
	}
	ks, err = auth.LoadKeyDir(dir, ttl, active.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ks.JWKS(active.Add(time.Hour)).Keys); n != 1 {
		t.Fatalf("got %d keys published an hour after rotation, want 1", n)
	}
}

// TestKeyFilesFromConfiguration loads a signing key and a previous key from PEM files.
func TestKeyFilesFromConfiguration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string) (string, string) {
		k, err := auth.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		b, err := auth.MarshalKeyPEM(k)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p, k.ID
	}
	cur, curID := write("current.pem")
	prev, prevID := write("previous.pem")
	ks, err := auth.LoadKeyFiles(cur, []string{prev})
	if err != nil {
		t.Fatal(err)
	}
	if ks.Signer().ID != curID {
		t.Fatalf("got signer %s, want %s", ks.Signer().ID, curID)
	}
	if k, ok := ks.Verifier(prevID, time.Now()); !ok || k.Private != nil {
		t.Fatal("previous key must verify and never sign")
	}
	bad := filepath.Join(dir, "bad.pem")
	_ = os.WriteFile(bad, []byte("not a key"), 0o600)
	if _, err := auth.LoadKeyFiles(bad, nil); err == nil {
		t.Fatal("garbage key file accepted")
	}
}
