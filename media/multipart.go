package media

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"fieldsync"

	"github.com/minio/minio-go/v7"
)

// Resumable uploads: an S3 multipart upload per media object, to a key of
// its own under multipart/ that nothing but that one multipart upload can
// ever write: no single-PUT URL is signed for it, the key is fresh for each
// upload, and once CompleteMultipartUpload has assembled the parts the upload
// id is gone, so no part URL writes it any more. The phone asks for presigned
// URLs of the parts it still needs, each signed for the part's length and the
// checksum the phone declares (CRC32C, or MD5), so the store refuses a part
// whose bytes changed on the way and the phone sends that part again.
// Completion assembles the parts and verifies the assembled object in one
// streamed read (size, SHA-256, real type, the structure of its kind); the
// verified object is then served where it was assembled — the media's Key
// becomes the upload's key when it is marked stored, never before — so the
// bytes are not copied again. A refused upload is removed, and the next one
// gets a fresh key.

const (
	// MinPartSize is the object store's smallest part (every part but the last).
	MinPartSize = 5 << 20
	// MaxParts is the most parts of one upload (the S3 limit).
	MaxParts = 10000
	// MaxPartURLs is the most part URLs one request may ask for.
	MaxPartURLs = 100
)

// Part is one stored part of a resumable upload.
type Part struct {
	Number int
	Size   int64
	ETag   string
	// CRC32C is the part's checksum as the store keeps it (base64), which
	// completing the upload names.
	CRC32C string
}

// Resumable is the state of media's resumable upload: which parts the store
// holds, so a phone resuming (after a dropped connection, an app restart, on
// a new login) sends only the others.
type Resumable struct {
	Media *fieldsync.Media
	// UploadID names the upload; empty when the media is stored.
	UploadID  string
	PartSize  int64
	PartCount int
	// Parts are the parts stored so far, by number.
	Parts []Part
	// Assembled: the parts were assembled already (a complete was
	// interrupted); the phone only calls complete.
	Assembled bool
}

// PartRequest asks for the URL of one part: its number (1-based) and a
// checksum of its bytes the store checks them against — the base64 CRC32C
// (x-amz-checksum-crc32c), the base64 MD5 (RFC 1864 Content-MD5), or both.
// CRC32C costs the store less: it replaces the CRC the store computes anyway,
// where an MD5 is hashed beside the MD5 of the part's ETag.
type PartRequest struct {
	Number int
	CRC32C string
	MD5    string
}

// PartUpload tells the phone how to send one part: a PUT of exactly Size
// bytes to URL with Headers.
type PartUpload struct {
	Number  int
	Size    int64
	URL     string
	Headers map[string]string
}

// crc32cHeader carries a part's CRC32C, checked by the store.
const crc32cHeader = "X-Amz-Checksum-Crc32c"

// headers are the checksum headers part request i signs; invalid_input
// naming the field when a checksum is malformed or there is none.
func (r PartRequest) headers(i int) (map[string]string, error) {
	h := map[string]string{}
	if r.CRC32C != "" {
		if sum, err := base64.StdEncoding.DecodeString(r.CRC32C); err != nil || len(sum) != 4 {
			return nil, fieldsync.FieldErrorf(fmt.Sprintf("parts[%d].crc32c", i), "must be the base64 CRC32C (Castagnoli) of the part (8 characters)")
		}
		h[crc32cHeader] = r.CRC32C
	}
	if r.MD5 != "" || r.CRC32C == "" {
		if sum, err := base64.StdEncoding.DecodeString(r.MD5); err != nil || len(sum) != 16 {
			return nil, fieldsync.FieldErrorf(fmt.Sprintf("parts[%d].md5", i), "must be the base64 MD5 of the part (24 characters), or give its crc32c")
		}
		h["Content-MD5"] = r.MD5
	}
	return h, nil
}

// multipartOptions start a resumable upload whose parts carry CRC32Cs: a
// store that implements S3's checksums (S3, MinIO, the embedded gateway)
// then keeps the part's CRC32C instead of computing one of its own, and S3
// refuses a part's checksum header on an upload started without the algorithm.
func multipartOptions(contentType string) minio.PutObjectOptions {
	o := putOptions(contentType)
	o.UserMetadata = map[string]string{"X-Amz-Checksum-Algorithm": "CRC32C", "X-Amz-Checksum-Type": "FULL_OBJECT"}
	return o
}

func (s *Service) core() minio.Core { return minio.Core{Client: s.objects.Client} }

// partSize is the part size of an upload of size bytes.
func (s *Service) partSize(size int64) int64 {
	return max(s.opts.PartSize, (size+MaxParts-1)/MaxParts)
}

func partCount(size, partSize int64) int { return int((size + partSize - 1) / partSize) }

// partLen is the length of part n (1-based) of an upload of size bytes.
func partLen(size, partSize int64, n int) int64 {
	return min(partSize, size-int64(n-1)*partSize)
}

// StartResumable starts media id's resumable upload, or answers the one
// under way with the parts the store already holds. Stored media is
// answered without an upload. Errors: not_found (not the caller's media),
// unavailable.
func (s *Service) StartResumable(ctx context.Context, id string) (*Resumable, error) {
	return s.resumable(ctx, id, true)
}

// ResumableState answers media id's resumable upload under way; not_found
// when none is.
func (s *Service) ResumableState(ctx context.Context, id string) (*Resumable, error) {
	return s.resumable(ctx, id, false)
}

func (s *Service) resumable(ctx context.Context, id string, start bool) (*Resumable, error) {
	m, err := s.own(ctx, id)
	if err != nil {
		return nil, err
	}
	if m.Status == fieldsync.MediaStored {
		return &Resumable{Media: m}, nil
	}
	if err := s.objectsUp(ctx); err != nil {
		return nil, err
	}
	prev := ""
	if mp := m.Multipart; mp != nil {
		r := &Resumable{Media: m, UploadID: mp.UploadID, PartSize: mp.PartSize, PartCount: partCount(m.Size, mp.PartSize)}
		r.Parts, err = s.listParts(ctx, mp)
		if err == nil {
			return r, nil
		}
		if fieldsync.ErrorCode(err) != fieldsync.ENotFound {
			return nil, err
		}
		// The upload is gone: assembled by an interrupted complete, or aborted.
		if _, serr := s.objects.Client.StatObject(ctx, s.objects.Bucket, mp.Key, minio.StatObjectOptions{}); serr == nil {
			r.Assembled = true
			return r, nil
		}
		prev = mp.UploadID
	}
	if !start {
		return nil, fieldsync.Errorf(fieldsync.ENotFound, "no resumable upload under way")
	}
	return s.newResumable(ctx, m, prev)
}

// newResumable creates a multipart upload for m and records it, unless a
// concurrent start recorded another first: then that one is answered and
// this one aborted.
func (s *Service) newResumable(ctx context.Context, m *fieldsync.Media, prev string) (*Resumable, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	mp := &fieldsync.Multipart{Key: multipartPrefix + m.Key + "." + hex.EncodeToString(b), PartSize: s.partSize(m.Size),
		StartedAt: s.opts.Now().UTC()}
	uploadID, err := s.core().NewMultipartUpload(ctx, s.objects.Bucket, mp.Key, multipartOptions(m.ContentType))
	if err != nil {
		return nil, MapError(err)
	}
	mp.UploadID = uploadID
	cur, err := s.store.SetMultipart(ctx, m.TenantID, m.ID, mp, prev)
	if err != nil || cur.Multipart == nil || cur.Multipart.UploadID != uploadID {
		s.abort(context.WithoutCancel(ctx), mp)
		if err != nil {
			return nil, err
		}
		if cur.Status == fieldsync.MediaStored {
			return &Resumable{Media: cur}, nil
		}
		return s.resumable(ctx, m.ID, true) // a concurrent start won: answer its upload
	}
	return &Resumable{Media: cur, UploadID: uploadID, PartSize: mp.PartSize, PartCount: partCount(m.Size, mp.PartSize), Parts: []Part{}}, nil
}

// listParts lists the parts the store holds for upload mp; not_found when
// the upload is gone.
func (s *Service) listParts(ctx context.Context, mp *fieldsync.Multipart) ([]Part, error) {
	parts := []Part{}
	marker := 0
	for {
		res, err := s.core().ListObjectParts(ctx, s.objects.Bucket, mp.Key, mp.UploadID, marker, 1000)
		if err != nil {
			return nil, MapError(err)
		}
		for _, p := range res.ObjectParts {
			parts = append(parts, Part{Number: p.PartNumber, Size: p.Size, ETag: strings.Trim(p.ETag, `"`), CRC32C: p.ChecksumCRC32C})
		}
		if !res.IsTruncated || res.NextPartNumberMarker <= marker {
			return parts, nil
		}
		marker = res.NextPartNumberMarker
	}
}

// PresignParts answers presigned URLs for parts of media id's resumable
// upload, each signed for the part's exact length and declared checksums.
// Errors: invalid_input naming parts[i].number, parts[i].crc32c or
// parts[i].md5, conflict (no upload under way, or the media is stored),
// not_found.
func (s *Service) PresignParts(ctx context.Context, id string, reqs []PartRequest) ([]PartUpload, time.Time, error) {
	m, err := s.own(ctx, id)
	if err != nil {
		return nil, time.Time{}, err
	}
	if m.Status == fieldsync.MediaStored {
		return nil, time.Time{}, fieldsync.Errorf(fieldsync.EConflict, "media already stored")
	}
	mp := m.Multipart
	if mp == nil {
		return nil, time.Time{}, fieldsync.Errorf(fieldsync.EConflict, "no resumable upload under way: start one first")
	}
	if len(reqs) == 0 || len(reqs) > MaxPartURLs {
		return nil, time.Time{}, fieldsync.FieldErrorf("parts", "ask for 1 to %d parts", MaxPartURLs)
	}
	count := partCount(m.Size, mp.PartSize)
	out := make([]PartUpload, 0, len(reqs))
	for i, r := range reqs {
		if r.Number < 1 || r.Number > count {
			return nil, time.Time{}, fieldsync.FieldErrorf(fmt.Sprintf("parts[%d].number", i), "must be between 1 and %d", count)
		}
		headers, err := r.headers(i)
		if err != nil {
			return nil, time.Time{}, err
		}
		size := partLen(m.Size, mp.PartSize, r.Number)
		headers["Content-Length"] = strconv.FormatInt(size, 10)
		h := http.Header{}
		for k, v := range headers {
			h.Set(k, v)
		}
		q := url.Values{"partNumber": {strconv.Itoa(r.Number)}, "uploadId": {mp.UploadID}}
		u, err := s.objects.Public.PresignHeader(ctx, http.MethodPut, s.objects.Bucket, mp.Key, s.opts.UploadExpiry, q, h)
		if err != nil {
			return nil, time.Time{}, MapError(err)
		}
		out = append(out, PartUpload{Number: r.Number, Size: size, URL: u.String(), Headers: headers})
	}
	return out, s.opts.Now().Add(s.opts.UploadExpiry).UTC(), nil
}

// AbortResumable gives up media id's resumable upload: the parts are removed
// and the media stays pending for a new upload. No upload under way is no error.
func (s *Service) AbortResumable(ctx context.Context, id string) error {
	m, err := s.own(ctx, id)
	if err != nil {
		return err
	}
	if m.Status == fieldsync.MediaStored || m.Multipart == nil {
		return nil
	}
	if err := s.objectsUp(ctx); err != nil {
		return err
	}
	s.dropMultipart(ctx, m)
	return nil
}

// completeResumable assembles m's parts and verifies the assembled object.
// Missing parts are not_uploaded naming them; an upload already assembled
// (a retried complete) is verified as it is.
func (s *Service) completeResumable(ctx context.Context, m *fieldsync.Media) (*fieldsync.Media, error) {
	mp := m.Multipart
	parts, err := s.listParts(ctx, mp)
	switch {
	case err == nil && len(parts) == 0:
		return s.completeSingle(ctx, m) // started, then sent with the single PUT after all
	case err == nil:
		// Assembled from parts of the right lengths: m.Size bytes.
		if err := s.assemble(ctx, m, mp, parts); err != nil {
			return nil, err
		}
	case fieldsync.ErrorCode(err) != fieldsync.ENotFound:
		return nil, err
	default: // assembled by an earlier complete, or gone
		info, err := s.objects.Client.StatObject(ctx, s.objects.Bucket, mp.Key, minio.StatObjectOptions{})
		if err != nil {
			return s.notUploaded(ctx, m, err)
		}
		if info.Size != m.Size || info.Size > s.MaxBytesOf(m.Kind) {
			separateKeys(m)
			return s.finish(ctx, m, "", observed{size: info.Size})
		}
	}
	separateKeys(m)
	// Verified, and then served, in place: with its upload id gone nothing
	// writes this key any more.
	got, err := s.read(ctx, m, mp.Key)
	if err != nil {
		return s.notUploaded(ctx, m, err)
	}
	return s.finish(ctx, m, mp.Key, got)
}

// assemble completes the multipart upload from parts, all of which must be there.
func (s *Service) assemble(ctx context.Context, m *fieldsync.Media, mp *fieldsync.Multipart, parts []Part) error {
	count := partCount(m.Size, mp.PartSize)
	have := map[int]Part{}
	for _, p := range parts {
		have[p.Number] = p
	}
	var missing []string
	complete := make([]minio.CompletePart, 0, count)
	for n := 1; n <= count; n++ {
		p, ok := have[n]
		if !ok || p.Size != partLen(m.Size, mp.PartSize, n) {
			missing = append(missing, strconv.Itoa(n))
			continue
		}
		complete = append(complete, minio.CompletePart{PartNumber: n, ETag: p.ETag, ChecksumCRC32C: p.CRC32C})
	}
	if len(missing) > 0 {
		e := fieldsync.Errorf(fieldsync.ENotUploaded, "parts not uploaded yet: %s", strings.Join(shorten(missing, 20), ", "))
		e.Field = "parts"
		return e
	}
	_, err := s.core().CompleteMultipartUpload(ctx, s.objects.Bucket, mp.Key, mp.UploadID, complete, putOptions(m.ContentType))
	if err != nil && fieldsync.ErrorCode(MapError(err)) != fieldsync.ENotFound { // NoSuchUpload: a concurrent complete assembled it
		return MapError(err)
	}
	return nil
}

func shorten(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(slices.Clip(s[:n]), "…")
}

// dropMultipart aborts m's multipart upload and removes what it assembled —
// unless that is what stored media m serves — and forgets it; failures are
// logged (the sweep aborts stale uploads).
func (s *Service) dropMultipart(ctx context.Context, m *fieldsync.Media) {
	mp := m.Multipart
	if mp == nil {
		return
	}
	if m.Status != fieldsync.MediaStored || m.Key != mp.Key {
		s.abort(ctx, mp)
		s.removeObject(ctx, mp.Key)
	} // else it was assembled: no upload to abort
	if err := s.store.ClearMultipart(ctx, m.TenantID, m.ID, mp.UploadID); err != nil {
		s.log.WarnContext(ctx, "media: forget multipart upload", "media_id", m.ID, "err", err)
	}
}

// abort aborts upload mp; one already gone is no error.
func (s *Service) abort(ctx context.Context, mp *fieldsync.Multipart) {
	if err := s.abortUpload(ctx, mp.Key, mp.UploadID); err != nil {
		s.log.WarnContext(ctx, "media: abort multipart upload", "key", mp.Key, "err", err)
	}
}

func (s *Service) abortUpload(ctx context.Context, key, uploadID string) error {
	err := MapError(s.core().AbortMultipartUpload(ctx, s.objects.Bucket, key, uploadID))
	if fieldsync.ErrorCode(err) == fieldsync.ENotFound {
		return nil
	}
	return err
}

// abortStaleUploads aborts multipart uploads under multipart/ (and under
// incoming/, where uploads started before they had a prefix of their own)
// started before cutoff, whatever their media: one whose start crashed
// before it was recorded is known to nobody else.
func (s *Service) abortStaleUploads(ctx context.Context, cutoff time.Time) (int, error) {
	n := 0
	for _, prefix := range []string{multipartPrefix, incomingPrefix} {
		res, err := s.core().ListMultipartUploads(ctx, s.objects.Bucket, prefix, "", "", "", 1000)
		if err != nil {
			return n, MapError(err)
		}
		for _, u := range res.Uploads {
			if u.Initiated.IsZero() || !u.Initiated.Before(cutoff) {
				continue
			}
			if err := s.abortUpload(ctx, u.Key, u.UploadID); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
