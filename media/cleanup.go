package media

import (
	"context"
	"time"

	"fieldsync"
)

// sweepLease is the name of the cluster-wide lease of the cleanup sweep.
const sweepLease = "media-sweep"

// sweepBatch bounds the media one sweep looks at per kind.
const sweepBatch = 500

// SweepReport says what one sweep did.
type SweepReport struct {
	// Claimed is false when another instance holds the lease: nothing was done.
	Claimed           bool
	PendingRemoved    int
	UncitedRemoved    int
	StillCited        int
	ThumbnailsRetried int
	// UploadsAborted counts stale multipart uploads aborted that no media knew of.
	UploadsAborted int
}

// Sweep removes media pending for longer than CleanupAge (uploads never
// completed: the object, if any, the multipart upload, aborted, and the
// metadata), aborts multipart uploads started before then that no media knows, and stored media that no
// live record has cited for CleanupAge, and makes thumbnails a crash lost.
// Instances share the work through a lease claimed with one atomic
// findOneAndUpdate that expires after CleanupInterval, so a holder that dies
// holds nothing; every removal is also conditional on the media's status.
func (s *Service) Sweep(ctx context.Context) (SweepReport, error) {
	var r SweepReport
	now := s.opts.Now().UTC()
	ok, err := s.store.ClaimLease(ctx, sweepLease, s.opts.Instance, now, s.opts.CleanupInterval)
	if err != nil || !ok {
		return r, err
	}
	r.Claimed = true
	cutoff := now.Add(-s.opts.CleanupAge)

	pending, err := s.store.StalePending(ctx, cutoff, sweepBatch)
	if err != nil {
		return r, err
	}
	for _, m := range pending {
		if err := s.removeMedia(ctx, &m, fieldsync.MediaPending); err != nil {
			return r, err
		}
		r.PendingRemoved++
	}

	stored, err := s.store.UncheckedStored(ctx, cutoff, sweepBatch)
	if err != nil {
		return r, err
	}
	byTenant := map[string][]fieldsync.Media{}
	for _, m := range stored {
		byTenant[m.TenantID] = append(byTenant[m.TenantID], m)
	}
	for tenant, ms := range byTenant {
		ids := make([]string, len(ms))
		for i, m := range ms {
			ids[i] = m.ID
		}
		cites, err := s.citations.Citing(ctx, tenant, ids)
		if err != nil {
			return r, err
		}
		cited := map[string]bool{}
		for _, c := range cites {
			if m := citedMedia(ms, c.MediaID); m != nil && (c.Record.SiteID == m.SiteID || c.Record.CreatedBy == m.UploaderID) {
				cited[c.MediaID] = true // a citation that would grant reading it (fieldsync.CitationGrants)
			}
		}
		var keep []string
		for _, m := range ms {
			if cited[m.ID] {
				keep = append(keep, m.ID)
				// A late PUT to the upload URL after verification left bytes
				// nobody serves: remove them (the URL has expired by now).
				if m.UploadKey != "" && m.UploadKey != m.Key {
					if err := s.deleteObject(ctx, m.UploadKey); err != nil {
						return r, err
					}
				}
				continue
			}
			if err := s.removeMedia(ctx, &m, fieldsync.MediaStored); err != nil {
				return r, err
			}
			r.UncitedRemoved++
		}
		if err := s.store.MarkChecked(ctx, tenant, keep, now); err != nil {
			return r, err
		}
		r.StillCited += len(keep)
	}

	if r.UploadsAborted, err = s.abortStaleUploads(ctx, cutoff); err != nil {
		return r, err
	}

	backlog, err := s.store.ThumbnailBacklog(ctx, now.Add(-thumbTimeout), sweepBatch)
	if err != nil {
		return r, err
	}
	for _, m := range backlog {
		if err := s.makeThumbnail(ctx, &m); err != nil {
			s.log.WarnContext(ctx, "media: thumbnail retry", "media_id", m.ID, "err", err)
			continue
		}
		r.ThumbnailsRetried++
	}
	return r, nil
}

// removeMedia removes the objects first (the verified bytes, what was
// uploaded, the thumbnail), then the metadata if it still has status: a failure in between leaves metadata the next sweep retries, never
// an object nobody knows about.
func (s *Service) removeMedia(ctx context.Context, m *fieldsync.Media, status string) error {
	keys := []string{m.Key, m.UploadKey, m.ThumbKey}
	if mp := m.Multipart; mp != nil {
		if err := s.abortUpload(ctx, mp.Key, mp.UploadID); err != nil {
			return err
		}
		keys = append(keys, mp.Key)
	}
	for _, k := range keys {
		if k == "" {
			continue
		}
		if err := s.deleteObject(ctx, k); err != nil {
			return err
		}
	}
	_, err := s.store.DeleteMedia(ctx, m.TenantID, m.ID, status)
	return err
}

// Run sweeps every CleanupInterval until ctx ends. Run it on every instance:
// the lease makes one of them do each round.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.opts.CleanupInterval)
	defer t.Stop()
	for {
		r, err := s.Sweep(ctx)
		if err != nil {
			s.log.WarnContext(ctx, "media: sweep", "err", err)
		} else if r.PendingRemoved+r.UncitedRemoved+r.ThumbnailsRetried > 0 {
			s.log.InfoContext(ctx, "media: sweep", "pending_removed", r.PendingRemoved,
				"uncited_removed", r.UncitedRemoved, "thumbnails", r.ThumbnailsRetried)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func citedMedia(ms []fieldsync.Media, id string) *fieldsync.Media {
	for i := range ms {
		if ms[i].ID == id {
			return &ms[i]
		}
	}
	return nil
}
