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
