package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"
	"unicode"

	"github.com/credbatch/credbatch/shared/blobfile"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/sheet"
)

// MetaReplaces names the batch an upload replaces (a corrected file, or the same file with
// its columns assigned): ingesting it cancels that batch, which then links to this one.
const MetaReplaces = "replaces"

// UploadTypes are the accepted upload extensions and their content types.
var UploadTypes = map[string]string{
	".xlsx": ContentTypeXLSX,
	".csv":  "text/csv",
	".txt":  "text/plain",
}

// Upload describes a file to put under uploads/ and the options it travels with.
type Upload struct {
	Filename     string
	DefinitionID string // "" = the file's ID column names each row's definition
	Uploader     string
	Label        string // "" = the file name
	DateOrder    string
	Sheet        string
	Mapping      map[string]credbatch.Field
	Replaces     string // batch id
	Size         int64  // bytes; > 0 binds a presigned upload to exactly this size
	// EvidenceZip (PutUpload only) is the zip of the file's evidence files, stored beside it
	// (EvidenceZipKey) before it, so that the file's ingest reads it.
	EvidenceZip io.Reader
}

// Prepared is an upload's object key, content type and metadata: the API presigns a PUT
// with them, the console puts the file itself. Either way ingest reads the same object.
type Prepared struct {
	Key         string
	ContentType string
	Metadata    map[string]string
}

// PrepareUpload checks an upload's name and options and returns where it goes. newID names
// the object uniquely. Errors: KindInvalid (invalid_filename, unsupported_format,
// unknown_definition, invalid_date_order, invalid_metadata); KindConflict for an archived
// definition.
func (s *Service) PrepareUpload(ctx context.Context, u Upload, newID string) (Prepared, error) {
	name, err := CleanFilename(u.Filename)
	if err != nil {
		return Prepared{}, err
	}
	ctype, ok := UploadTypes[strings.ToLower(path.Ext(name))]
	if !ok {
		return Prepared{}, credbatch.E(credbatch.KindInvalid, credbatch.CodeUnsupportedFormat,
			fmt.Sprintf("%q: upload an .xlsx, .csv or .txt file (save other spreadsheets as Excel Workbook .xlsx or CSV UTF-8)", name))
	}
	prefix := UploadsPrefix
	meta := map[string]string{MetaUploader: u.Uploader}
	if u.DefinitionID != "" {
		def, err := s.Store.GetDefinition(ctx, u.DefinitionID, 0)
		if credbatch.IsKind(err, credbatch.KindNotFound) {
			return Prepared{}, credbatch.E(credbatch.KindInvalid, credbatch.CodeUnknownDefinition, fmt.Sprintf("there is no definition %q", u.DefinitionID))
		}
		if err != nil {
			return Prepared{}, fmt.Errorf("load definition %s: %w", u.DefinitionID, err)
		}
		if def.Archived {
			return Prepared{}, credbatch.E(credbatch.KindConflict, "definition_archived", fmt.Sprintf("definition %q is archived", def.ID))
		}
		prefix += def.ID + "/"
	}
	order, err := ParseDateOrder(u.DateOrder)
	if err != nil {
		return Prepared{}, err
	}
	label := strings.TrimSpace(u.Label)
	if err := credbatch.CheckLabel(label); err != nil {
		return Prepared{}, err
	}
	if label == "" {
		label = name
	}
	meta[MetaLabel] = label
	if order != credbatch.DateOrderAuto {
		meta[MetaDateOrder] = string(order)
	}
	if u.Sheet != "" {
		meta[MetaSheet] = u.Sheet
	}
	if len(u.Mapping) > 0 {
		m, _ := json.Marshal(u.Mapping)
		meta[MetaMapping] = string(m)
	}
	if u.Replaces != "" {
		meta[MetaReplaces] = u.Replaces
	}
	for k, v := range meta {
		if !headerSafe(v) {
			return Prepared{}, credbatch.E(credbatch.KindInvalid, "invalid_metadata",
				fmt.Sprintf("%s: use printable ASCII only (it travels as an HTTP header)", k))
		}
	}
	return Prepared{Key: prefix + newID + "-" + name, ContentType: ctype, Metadata: meta}, nil
}

// MetadataPresigner is implemented by blob stores that can presign an upload carrying user
// metadata. S3 refuses x-amz-meta-* headers that the presigned URL did not sign, so on S3
// the metadata must be part of the signature; size > 0 signs Content-Length too. A store
// without this method gets a plain PresignPut (no metadata, no size).
type MetadataPresigner interface {
	PresignPutMetadata(ctx context.Context, key, contentType string, metadata map[string]string, size int64, ttl time.Duration) (string, error)
}

// Presigned is an upload the caller sends itself: PUT URL with every one of Headers (and a
// body of the signed size) before ExpiresAt.
type Presigned struct {
	URL       string
	Key       string
	Headers   map[string]string
	ExpiresAt time.Time
}

// PresignUpload checks an upload (as PrepareUpload) and returns a presigned PUT URL under
// uploads/ valid for ttl, bound to the object key, the content type, the metadata headers
// that carry its options to ingest and, when u.Size > 0, that exact size: the API's
// presigned upload and the console's direct-to-bucket upload. Errors: PrepareUpload's, and
// KindInvalid file_too_large (over Limits.MaxFileBytes) or invalid_size.
func (s *Service) PresignUpload(ctx context.Context, u Upload, newID string, ttl time.Duration) (Presigned, error) {
	if err := s.checkSize(u.Size); err != nil {
		return Presigned{}, err
	}
	up, err := s.PrepareUpload(ctx, u, newID)
	if err != nil {
		return Presigned{}, err
	}
	return s.presign(ctx, up, u.Size, ttl)
}

// presign signs a PUT of the prepared object (and of exactly size bytes when size > 0).
func (s *Service) presign(ctx context.Context, up Prepared, size int64, ttl time.Duration) (Presigned, error) {
	var url string
	var err error
	if mp, ok := s.Blob.(MetadataPresigner); ok {
		url, err = mp.PresignPutMetadata(ctx, up.Key, up.ContentType, up.Metadata, size, ttl)
	} else {
		url, err = s.Blob.PresignPut(ctx, up.Key, up.ContentType, ttl)
	}
	if err != nil {
		return Presigned{}, fmt.Errorf("presign upload %s: %w", up.Key, err)
	}
	headers := map[string]string{"Content-Type": up.ContentType}
	for k, v := range up.Metadata {
		headers["x-amz-meta-"+k] = v
	}
	return Presigned{URL: url, Key: up.Key, Headers: headers, ExpiresAt: s.now().Add(ttl)}, nil
}

// checkSize refuses a declared upload size that ingest would refuse to read.
func (s *Service) checkSize(n int64) error {
	limit := s.Limits.MaxFileBytes
	if limit <= 0 {
		limit = sheet.DefaultLimits().MaxFileBytes
	}
	switch {
	case n < 0:
		return credbatch.E(credbatch.KindInvalid, "invalid_size", "give the file's size in bytes")
	case n > limit:
		return credbatch.E(credbatch.KindInvalid, credbatch.CodeFileTooLarge,
			fmt.Sprintf("the file is %d bytes; upload files of at most %d MB", n, limit>>20))
	}
	return nil
}

// UploadedBatch is the id of the batch an object under uploads/ becomes, once the uploader
// has PUT it to a presigned URL. KindNotFound when the object is not there or someone else
// uploaded it.
func (s *Service) UploadedBatch(ctx context.Context, key, uploader string) (string, error) {
	if !strings.HasPrefix(key, UploadsPrefix) {
		return "", credbatch.NotFound("upload", key)
	}
	info, err := s.Blob.Head(ctx, key)
	if err != nil {
		return "", err
	}
	if info.Metadata[MetaUploader] != uploader {
		return "", credbatch.NotFound("upload", key)
	}
	return credbatch.BatchIDFor(credbatch.Source{Bucket: info.Bucket, Key: key, VersionID: info.VersionID, ETag: strings.Trim(info.ETag, `"`)}), nil
}

// PutUpload stores an upload's file under uploads/ (the console's upload; the API's
// callers PUT to a presigned URL instead) and returns the id of the batch that ingesting
// that object creates: the bucket's event (or the local drop-folder watcher) ingests it.
func (s *Service) PutUpload(ctx context.Context, u Upload, r io.Reader) (string, error) {
	p, err := s.PrepareUpload(ctx, u, s.newID())
	if err != nil {
		return "", err
	}
	if u.EvidenceZip != nil {
		z := EvidenceZipKey(p.Key)
		if _, err := s.Blob.Put(ctx, z, u.EvidenceZip, ContentTypeZip, map[string]string{MetaUploader: u.Uploader}); err != nil {
			return "", fmt.Errorf("store evidence zip %s: %w", z, err)
		}
	}
	info, err := s.Blob.Put(ctx, p.Key, r, p.ContentType, p.Metadata)
	if err != nil {
		return "", fmt.Errorf("store upload %s: %w", p.Key, err)
	}
	return credbatch.BatchIDFor(credbatch.Source{Bucket: info.Bucket, Key: p.Key, VersionID: info.VersionID, ETag: strings.Trim(info.ETag, `"`)}), nil
}

// Remap uploads a batch's file again with a column mapping (header → field or skip), as a
// new batch that replaces it. KindConflict when the batch is past being changed.
func (s *Service) Remap(ctx context.Context, id, by string, mapping map[string]credbatch.Field) (string, error) {
	b, err := s.Store.GetBatch(ctx, id)
	if err != nil {
		return "", fmt.Errorf("load batch %s: %w", id, err)
	}
	if !replaceable(b.Status) {
		return "", credbatch.E(credbatch.KindConflict, "batch_not_amendable", fmt.Sprintf("batch %s is %s; its columns can no longer be assigned", id, b.Status))
	}
	if b.Source.Key == "" {
		return "", credbatch.E(credbatch.KindConflict, "no_file", fmt.Sprintf("batch %s was not uploaded as a file", id))
	}
	rc, info, err := s.Blob.Get(ctx, b.Source.Key)
	if err != nil {
		return "", fmt.Errorf("load the file of %s: %w", id, err)
	}
	defer rc.Close()
	name := path.Base(b.Source.Key)
	if id, rest, ok := strings.Cut(name, "-"); ok && (len(id) == 26 || len(id) == 32) && info.Metadata[MetaUploader] != "" {
		name = rest // drop the id PrepareUpload put in front
	}
	up := Upload{Filename: name, DefinitionID: b.Options.DefinitionID, Uploader: by, Label: b.Label,
		DateOrder: string(b.Options.DateOrder), Sheet: b.Options.Sheet, Mapping: mapping, Replaces: id}
	// The evidence zip goes with the file: the new batch's rows name its entries.
	zrc, _, err := s.Blob.Get(ctx, EvidenceZipKey(b.Source.Key))
	switch {
	case err == nil:
		defer zrc.Close()
		up.EvidenceZip = zrc
	case !credbatch.IsKind(err, credbatch.KindNotFound):
		return "", fmt.Errorf("load the evidence zip of %s: %w", id, err)
	}
	return s.PutUpload(ctx, up, rc)
}

// replaceable reports whether a batch may still be replaced by another upload.
func replaceable(s credbatch.BatchStatus) bool {
	return s == credbatch.BatchParsed || s == credbatch.BatchRejected || s == credbatch.BatchNeedsMapping
}

// supersede cancels the batch an upload replaces, recording which batch replaced it.
func (s *Service) supersede(ctx context.Context, old, by string) {
	b, err := s.Store.GetBatch(ctx, old)
	if err != nil || !replaceable(b.Status) {
		return
	}
	reason := "replaced by batch " + by
	if _, err := s.Store.TransitionBatch(ctx, old, b.Status, credbatch.BatchCancelled, credbatch.BatchChange{Reason: &reason}); err != nil {
		s.log().Warn("cancel the replaced batch", "batch_id", old, "by", by, "err", err)
		return
	}
	if b.ReportKey != "" {
		// The error report people may still open says which batch replaced this one.
		if _, err := s.writeReport(ctx, b, by); err != nil {
			s.log().Warn("rewrite the replaced batch's error report", "batch_id", old, "by", by, "err", err)
		}
	}
}

// Headers reads the header row of a batch's file (the columns to assign for a batch that
// needs mapping). KindConflict for a batch that did not come from a file.
func (s *Service) Headers(ctx context.Context, b credbatch.Batch) ([]string, error) {
	if b.Source.Key == "" {
		return nil, credbatch.E(credbatch.KindConflict, "no_file", fmt.Sprintf("batch %s was not uploaded as a file", b.ID))
	}
	file, _, err := blobfile.DownloadToTemp(ctx, s.Blob, b.Source.Key, s.TmpDir)
	if err != nil {
		return nil, err
	}
	defer os.Remove(file)
	rd, err := sheet.Open(file, path.Base(b.Source.Key), sheet.Options{Sheet: b.Options.Sheet, Limits: s.Limits, TmpDir: s.TmpDir})
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	rec, err := rd.Next()
	if err != nil {
		return nil, err
	}
	return rec.Cells, nil
}

// CleanFilename keeps the base name of an upload and refuses names that cannot be a key
// (KindInvalid invalid_filename).
func CleanFilename(s string) (string, error) {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	bad := s == "" || s == "." || s == ".." || len(s) > 200
	for _, r := range s {
		if unicode.IsControl(r) {
			bad = true
		}
	}
	if bad {
		return "", credbatch.E(credbatch.KindInvalid, "invalid_filename", "give the file's name (up to 200 characters, no control characters)")
	}
	return s, nil
}

func headerSafe(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return true
}
