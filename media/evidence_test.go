package media_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/media"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
)

// TestMediaOfTheOldKeyLayout: media announced before uploads had a key of
// their own keep working without a migration. A stored one still downloads
// from the key its record names; a pending one uploaded to that key is
// verified into a key of its own, so a late PUT to its upload URL changes
// nothing served.
func TestMediaOfTheOldKeyLayout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{})
	ctx := context.Background()
	old := func(status string, body []byte) *fieldsync.Media {
		now := time.Now().UTC()
		id := uuid.NewString()
		m := &fieldsync.Media{ID: id, TenantID: "t1", SiteID: "s1", UploaderID: guardA.UserID, Status: status,
			ContentType: media.TypePNG, Size: int64(len(body)), SHA256: sum(body), Key: "t1/s1/2026/11/" + id,
			CreatedAt: now, UpdatedAt: now}
		if status == fieldsync.MediaStored {
			m.StoredAt, m.Thumb = &now, fieldsync.ThumbNone
		}
		if err := e.store.InsertMedia(ctx, m); err != nil {
			t.Fatal(err)
		}
		return m
	}

	stored := pngBytes(t, 12, 12)
	ms := old(fieldsync.MediaStored, stored)
	if _, err := e.objects.Client.PutObject(ctx, e.objects.Bucket, ms.Key, bytes.NewReader(stored), int64(len(stored)),
		minio.PutObjectOptions{DisableContentSha256: true, DisableMultipart: true}); err != nil {
		t.Fatal(err)
	}
	v, err := e.svc.Get(as(guardA), ms.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, resp := download(t, v.Original); resp.StatusCode != 200 || !bytes.Equal(got, stored) {
		t.Fatalf("stored under the old layout: download status %d, %d bytes; want the photo", resp.StatusCode, len(got))
	}

	body := pngBytes(t, 13, 13)
	mp := old(fieldsync.MediaPending, body)
	_, up, err := e.svc.Create(as(guardA), media.CreateRequest{ID: mp.ID, ContentType: mp.ContentType, Size: mp.Size, SHA256: mp.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(up.URL, mp.Key) {
		t.Fatalf("upload URL %s does not name the key %s it was announced with", up.URL, mp.Key)
	}
	if st := putPresigned(t, up, body, nil); st != 200 {
		t.Fatalf("presigned PUT: %d", st)
	}
	m, err := e.svc.Complete(as(guardA), mp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Key == mp.Key || m.UploadKey != mp.Key {
		t.Fatalf("verified media keys: Key %q, UploadKey %q; want a key of its own, uploaded at %q", m.Key, m.UploadKey, mp.Key)
	}
	late := bytes.Repeat([]byte{'<'}, len(body))
	if st := putPresigned(t, up, late, nil); st != 200 {
		t.Fatalf("late presigned PUT: %d", st)
	}
	v, err = e.svc.Get(as(guardA), mp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, resp := download(t, v.Original); resp.StatusCode != 200 || !bytes.Equal(got, body) {
		t.Fatalf("after a late PUT: download status %d, %d bytes; want the verified photo", resp.StatusCode, len(got))
	}
}

// TestSweepRemovesLateUploadsOfStoredMedia: bytes PUT to the upload URL of
// media already stored are never served, and the sweep removes them while
// keeping the verified photo.
func TestSweepRemovesLateUploadsOfStoredMedia(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now()}
	e := newEnv(t, media.Options{CleanupAge: time.Hour, CleanupInterval: time.Minute, Now: clk.Now})
	body := pngBytes(t, 9, 9)
	req := request(media.TypePNG, body)
	_, up := mustCreate(t, e, guardA, req)
	if st := putPresigned(t, up, body, nil); st != 200 {
		t.Fatalf("presigned PUT: %d", st)
	}
	m, err := e.svc.Complete(as(guardA), req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if objectExists(t, e, m.UploadKey) {
		t.Fatal("the upload is kept after verification")
	}
	if st := putPresigned(t, up, pngBytes(t, 9, 9), nil); st != 200 {
		t.Fatalf("late presigned PUT: %d", st)
	}
	e.cites.Cite(m.ID, inspection("s1", guardA.UserID))
	clk.Add(2 * time.Hour)
	r, err := e.svc.Sweep(context.Background())
	if err != nil || r.StillCited != 1 {
		t.Fatalf("sweep: got %+v, %v; want the photo still cited", r, err)
	}
	if objectExists(t, e, m.UploadKey) || !objectExists(t, e, m.Key) {
		t.Fatalf("after the sweep: upload kept %v, photo kept %v; want only the photo", objectExists(t, e, m.UploadKey), objectExists(t, e, m.Key))
	}
}

// TestDecodesAreCappedByPixels: an image whose header claims more pixels than
// MaxPixels is stored from its header and structure, never decoded, with its
// dimensions and no thumbnail; one within the cap is decoded once.
func TestDecodesAreCappedByPixels(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{MaxPixels: 100 * 100})
	before := e.svc.FullDecodes()
	big := mustStore(t, e, guardA, media.TypePNG, pngBytes(t, 101, 100))
	if big.Status != fieldsync.MediaStored || big.Width != 101 || big.Thumb != fieldsync.ThumbNone || big.ThumbKey != "" {
		t.Fatalf("over the cap: got %+v, want stored 101×100 without thumbnail", big)
	}
	exif := tiffEXIF("2026:11:02 08:15:00", "+08:00", [3]uint32{31, 14, 24}, [3]uint32{121, 28, 12}, 6)
	bigJPEG := mustStore(t, e, guardA, media.TypeJPEG, jpegBytes(t, 120, 100, exif))
	if bigJPEG.Width != 120 || bigJPEG.Thumb != fieldsync.ThumbNone || bigJPEG.TakenAt == nil {
		t.Fatalf("JPEG over the cap: got %+v, want stored 120×100 with its capture time, without thumbnail", bigJPEG)
	}
	if n := e.svc.FullDecodes() - before; n != 0 {
		t.Fatalf("over the cap: %d full decodes, want 0", n)
	}
	small := mustStore(t, e, guardA, media.TypePNG, pngBytes(t, 100, 100))
	if small.Thumb != fieldsync.ThumbDone || e.svc.FullDecodes()-before != 1 {
		t.Fatalf("within the cap: thumb %q after %d decodes; want a thumbnail from one decode", small.Thumb, e.svc.FullDecodes()-before)
	}
}

// TestCitationsGrantOnlyAtTheMediaSite: a record of another site citing a
// photo grants nobody reading it, nor lists it as missing evidence there,
// nor lets anyone cite it further; a record the uploader made at another of
// their sites does (a photo announced before its record is filed under the
// uploader's first site). CiteRules answers who may cite what.
func TestCitationsGrantOnlyAtTheMediaSite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, media.Options{})
	both := &fieldsync.Caller{UserID: "u-guard-ab", TenantID: "t1", DeviceID: "d6", Role: fieldsync.RoleGuard, SiteIDs: []string{"s1", "s2"}}
	m := mustStore(t, e, guardA, media.TypePNG, pngBytes(t, 8, 8))            // site s1
	mine := mustStore(t, e, both, media.TypePNG, pngBytes(t, 9, 9))           // filed under s1, the first site
	pending, _ := mustCreate(t, e, guardA, request(media.TypePNG, []byte{1})) // announced, not stored
	e.cites.Cite(m.ID, inspection("s2", guardB.UserID))                       // guard.b1's record of s2: the attack
	e.cites.Cite(pending.ID, inspection("s2", guardB.UserID))
	e.cites.Cite(mine.ID, inspection("s2", both.UserID)) // the uploader's own record at their other site

	for _, c := range []*fieldsync.Caller{guardB, agentB} {
		if _, err := e.svc.Get(as(c), m.ID); fieldsync.ErrorCode(err) != fieldsync.ENotFound {
			t.Errorf("%s reading site s1's photo through a record of s2: got %v, want not_found", c.UserID, err)
		}
	}
	if _, err := e.svc.Get(as(agentB), mine.ID); err != nil {
		t.Errorf("agent of s2 reading the photo its uploader cited at s2: %v", err)
	}
	missing, err := e.svc.ListMissing(as(agentB), "s2")
	if err != nil || len(missing) != 0 {
		t.Errorf("missing evidence of s2: got %+v, %v; want none (the only pending media is of s1)", missing, err)
	}

	e.cites.Cite(m.ID, inspection("s1", guardA.UserID))
	rules, err := e.svc.CiteRules(as(agentA), agentA, []string{m.ID, mine.ID, pending.ID, "never-announced"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]fieldsync.CiteRule{
		m.ID:       {Readable: true, SiteID: "s1"},
		mine.ID:    {SiteID: "s1"},
		pending.ID: {SiteID: "s1"},
	}
	if len(rules) != len(want) {
		t.Fatalf("rules: got %+v, want %+v", rules, want)
	}
	for id, w := range want {
		if rules[id] != w {
			t.Errorf("rule of %s: got %+v, want %+v", id, rules[id], w)
		}
	}
	if !rules[m.ID].Allows("s1") || rules[m.ID].Allows("s2") || rules[pending.ID].Allows("s1") {
		t.Errorf("a readable photo is citable only at its site, an unreadable one nowhere: %+v", rules)
	}
	own, err := e.svc.CiteRules(as(both), both, []string{mine.ID})
	if err != nil || !own[mine.ID].Uploaded || !own[mine.ID].Allows("s2") {
		t.Errorf("the uploader's rule: got %+v, %v; want citable anywhere", own, err)
	}
}
