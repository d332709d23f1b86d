package ingest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// ContentTypeZip is the content type an evidence zip is uploaded with.
const ContentTypeZip = "application/zip"

// CodeInvalidUploadKey: the key given for an evidence zip is not a spreadsheet upload's.
const CodeInvalidUploadKey = "invalid_upload_key"

// MaxEvidenceZipBytes is the largest evidence zip a presigned upload takes: what the zip may
// unpack to (DefaultEvidenceZipLimits), below S3's 5 GiB limit of one PUT.
const MaxEvidenceZipBytes = 4 << 30

// PresignEvidenceZip returns a presigned PUT of the evidence zip of the spreadsheet upload
// at sheetKey (the key PresignUpload returned; the zip's key is sheetKey plus ".zip"),
// bound to application/zip, the uploader and, when size > 0, exactly that size. The zip may
// be uploaded before the spreadsheet (best: the spreadsheet's ingest then reads it) or
// after it, while its batch is in review. Errors: KindInvalid invalid_upload_key,
// invalid_size, zip_too_large; KindNotFound when the spreadsheet is there but someone else
// uploaded it; KindConflict batch_not_amendable when its batch has left review.
func (s *Service) PresignEvidenceZip(ctx context.Context, sheetKey, uploader string, size int64, ttl time.Duration) (Presigned, error) {
	key := EvidenceZipKey(sheetKey)
	if _, ok := SheetKeyOfZip(key); !ok || strings.Contains(sheetKey, "..") {
		return Presigned{}, credbatch.E(credbatch.KindInvalid, CodeInvalidUploadKey, fmt.Sprintf(
			"%q is not the key of a spreadsheet upload; give the key POST /api/uploads returned (uploads/…/<id>-<name>.xlsx, .csv or .txt)", sheetKey))
	}
	switch {
	case size < 0:
		return Presigned{}, credbatch.E(credbatch.KindInvalid, "invalid_size", "give the zip's size in bytes")
	case size > MaxEvidenceZipBytes:
		return Presigned{}, credbatch.E(credbatch.KindInvalid, credbatch.CodeZipTooLarge, fmt.Sprintf(
			"the zip is %d bytes; an evidence zip may have at most %d MiB: split the spreadsheet and its files into smaller batches", size, MaxEvidenceZipBytes>>20))
	}
	if err := s.zipTarget(ctx, sheetKey, uploader); err != nil {
		return Presigned{}, err
	}
	return s.presign(ctx, Prepared{Key: key, ContentType: ContentTypeZip, Metadata: map[string]string{MetaUploader: uploader}}, size, ttl)
}

// zipTarget checks that an evidence zip may go beside the spreadsheet at sheetKey: it is not
// there yet (the zip first), or it is the uploader's and its batch (if ingested) still in
// review or waiting for its columns.
func (s *Service) zipTarget(ctx context.Context, sheetKey, uploader string) error {
	if !headerSafe(uploader) {
		return credbatch.E(credbatch.KindInvalid, "invalid_metadata", "uploader: use printable ASCII only (it travels as an HTTP header)")
	}
	info, err := s.Blob.Head(ctx, sheetKey)
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("head %s: %w", sheetKey, err)
	}
	if info.Metadata[MetaUploader] != uploader {
		return credbatch.NotFound("upload", sheetKey)
	}
	id := credbatch.BatchIDFor(credbatch.Source{Bucket: info.Bucket, Key: sheetKey, VersionID: info.VersionID, ETag: strings.Trim(info.ETag, `"`)})
	b, err := s.Store.GetBatch(ctx, id)
	switch {
	case credbatch.IsKind(err, credbatch.KindNotFound):
		return nil // not ingested yet: its ingest reads the zip
	case err != nil:
		return fmt.Errorf("load batch %s: %w", id, err)
	case b.Status == credbatch.BatchReceived, b.Status == credbatch.BatchParsed, b.Status == credbatch.BatchNeedsMapping,
		b.Status == credbatch.BatchRejected && b.Counts.Rows > 0:
		return nil // (a batch whose columns are assigned takes its zip along: Remap)
	}
	return credbatch.E(credbatch.KindConflict, "batch_not_amendable", fmt.Sprintf(
		"batch %s is %s; an evidence zip is read only while a batch is in review: attach the files to its rows instead", id, b.Status))
}

// RenewUpload signs the spreadsheet upload at key (which PresignUpload gave for u) again,
// for ttl from now: a spreadsheet sent after its evidence zip (the zip first) may be PUT
// after the first URL has expired, if the zip took long. The key must be the one u gives
// (the same file name, definition and id), nothing may be uploaded there yet, and its zip
// must be there, uploaded by u.Uploader. Errors: PresignUpload's; KindInvalid
// invalid_upload_key; KindNotFound when the zip is not the uploader's or not there;
// KindConflict upload_exists when the spreadsheet is there already.
func (s *Service) RenewUpload(ctx context.Context, u Upload, key string, ttl time.Duration) (Presigned, error) {
	if err := s.checkSize(u.Size); err != nil {
		return Presigned{}, err
	}
	probe, err := s.PrepareUpload(ctx, u, "0")
	if err != nil {
		return Presigned{}, err
	}
	name, _ := CleanFilename(u.Filename) // checked by PrepareUpload
	prefix := strings.TrimSuffix(probe.Key, "0-"+name)
	id, ok := strings.CutPrefix(key, prefix)
	if ok {
		id, ok = strings.CutSuffix(id, "-"+name)
	}
	if !ok || id == "" || strings.ContainsAny(id, "/\\") || strings.Contains(id, "..") {
		return Presigned{}, credbatch.E(credbatch.KindInvalid, CodeInvalidUploadKey, fmt.Sprintf(
			"%q is not the key of this upload (the same file name and definition as when it was first asked for)", key))
	}
	up, err := s.PrepareUpload(ctx, u, id)
	if err != nil {
		return Presigned{}, err
	}
	if up.Key != key {
		return Presigned{}, credbatch.E(credbatch.KindInvalid, CodeInvalidUploadKey, fmt.Sprintf("%q is not the key of this upload", key))
	}
	if _, err := s.Blob.Head(ctx, key); err == nil {
		return Presigned{}, credbatch.E(credbatch.KindConflict, "upload_exists", fmt.Sprintf("%s is uploaded already; open its batch", key))
	} else if !credbatch.IsKind(err, credbatch.KindNotFound) {
		return Presigned{}, fmt.Errorf("head %s: %w", key, err)
	}
	zi, err := s.Blob.Head(ctx, EvidenceZipKey(key))
	if credbatch.IsKind(err, credbatch.KindNotFound) || (err == nil && zi.Metadata[MetaUploader] != u.Uploader) {
		return Presigned{}, credbatch.NotFound("upload", key)
	}
	if err != nil {
		return Presigned{}, fmt.Errorf("head %s: %w", EvidenceZipKey(key), err)
	}
	return s.presign(ctx, up, u.Size, ttl)
}
