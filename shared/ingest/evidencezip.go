package ingest

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/credbatch/credbatch/shared/blobfile"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/evidence"
	"github.com/credbatch/credbatch/shared/zipguard"
)

// EvidenceZipSuffix is what an evidence zip's key adds to its spreadsheet's: the files of
// uploads/roster.xlsx come in uploads/roster.xlsx.zip.
const EvidenceZipSuffix = ".zip"

// EvidenceZipKey is the key of the evidence zip of the spreadsheet at sheetKey.
func EvidenceZipKey(sheetKey string) string { return sheetKey + EvidenceZipSuffix }

// SheetKeyOfZip returns the key of the spreadsheet whose evidence zip is at key: key less
// ".zip", when that names a spreadsheet (.xlsx, .csv, .txt). ok is false for any other key.
func SheetKeyOfZip(key string) (sheetKey string, ok bool) {
	stem, ok := strings.CutSuffix(key, EvidenceZipSuffix)
	if !ok || !strings.HasPrefix(stem, UploadsPrefix) {
		return "", false
	}
	if _, ok := UploadTypes[strings.ToLower(path.Ext(stem))]; !ok {
		return "", false
	}
	return stem, true
}

// DefaultEvidenceZipLimits bound an evidence zip: 4 GiB unpacked, 100,000 entries (the
// default row limit), the zip-bomb ratio, and names that stay inside the folder. An entry
// larger than its row's definition allows is that row's evidence_too_large, not the zip's.
func DefaultEvidenceZipLimits() zipguard.Limits {
	return zipguard.Limits{MaxTotal: 4 << 30, MaxEntries: 100_000, SafeNames: true}
}

// maxUnmatchedFindings is how many unmatched entries are named one by one; the rest are
// counted in one more finding (the batch's findings stay small).
const maxUnmatchedFindings = 20

// EvidenceFiles are the evidence files uploaded with a spreadsheet: the entries of its
// evidence zip, read in place (ranged reads on S3) one at a time as rows name them. A nil
// *EvidenceFiles holds no file.
type EvidenceFiles struct {
	Key  string // the zip's object key
	ETag string // the version read

	blob    credbatch.Blob
	batchID string
	by      string
	at      time.Time
	tmpDir  string
	column  string
	ra      io.Closer
	spooled string // the local copy, for a blob without ReaderAtBlob

	entries map[string]*zip.File // by matchKey, common top folder removed
	root    string               // the common top folder ("" = none)
	order   []*zip.File          // the entries rows may name, in zip order
	used    map[*zip.File]bool
	refused *credbatch.Finding // the zip itself was refused: no entry is read

	bg *backgroundPuts // nil: each file is stored before match returns
}

// backgroundPuts stores checked files while the next entries are read: at most cap(slots)
// PUTs at once, each from its own temporary file (no file is held in memory).
type backgroundPuts struct {
	ctx   context.Context // the ingest's (a row's ends with its chunk of the pipeline)
	slots chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	err   error
}

// StoreInBackground makes match return once a file is checked, its PUT running beside the
// reading of the next entries, at most n at once. The row names the file before it is
// stored: the caller calls Wait before the rows are used (the batch leaves received).
func (z *EvidenceFiles) StoreInBackground(ctx context.Context, n int) {
	if z != nil && n > 1 {
		z.bg = &backgroundPuts{ctx: ctx, slots: make(chan struct{}, n)}
	}
}

// Wait waits for the files being stored and returns the first PUT's error.
func (z *EvidenceFiles) Wait() error {
	if z == nil || z.bg == nil {
		return nil
	}
	z.bg.wg.Wait()
	z.bg.mu.Lock()
	defer z.bg.mu.Unlock()
	return z.bg.err
}

func (b *backgroundPuts) put(f *evidence.File, store func(ctx context.Context) error) error {
	b.mu.Lock()
	err := b.err
	b.mu.Unlock()
	if err != nil {
		f.Close()
		return err // an earlier PUT failed: the ingest fails (and is retried)
	}
	select {
	case b.slots <- struct{}{}:
	case <-b.ctx.Done():
		f.Close()
		return b.ctx.Err()
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() { <-b.slots }()
		defer f.Close()
		if err := store(b.ctx); err != nil {
			b.mu.Lock()
			if b.err == nil {
				b.err = err
			}
			b.mu.Unlock()
		}
	}()
	return nil
}

// openEvidence opens the evidence zip of batch b's spreadsheet, or returns nil when there is
// none. A zip that cannot be used (not a zip, a traversal name, a bomb, too large) is not an
// error: the returned files hold only its finding, and every row naming a file gets
// evidence_file_not_found pointing at it. The caller closes the files.
func (s *Service) openEvidence(ctx context.Context, b credbatch.Batch) (*EvidenceFiles, error) {
	key := EvidenceZipKey(b.Source.Key)
	z := &EvidenceFiles{Key: key, blob: s.Blob, batchID: b.ID, by: b.Uploader, at: s.now(), tmpDir: s.TmpDir,
		column: "Evidence File", used: map[*zip.File]bool{}}
	var (
		ra   io.ReaderAt
		info credbatch.ObjectInfo
		err  error
	)
	if rb, ok := s.Blob.(credbatch.ReaderAtBlob); ok {
		var r credbatch.ObjectReaderAt
		r, info, err = rb.OpenAt(ctx, key)
		if err == nil {
			ra, z.ra = sourceReader{r}, r
		}
	} else {
		// A blob that cannot read at offsets: a local copy, removed on Close.
		var p string
		p, info, err = blobfile.DownloadToTemp(ctx, s.Blob, key, s.TmpDir)
		if err == nil {
			z.spooled = p
			var f *os.File
			if f, err = os.Open(p); err == nil {
				ra, z.ra = sourceReader{f}, f
			}
		}
	}
	if credbatch.IsKind(err, credbatch.KindNotFound) {
		return nil, nil
	}
	if err != nil {
		z.Close()
		return nil, fmt.Errorf("evidence zip %s: %w", key, err)
	}
	z.ETag = info.ETag
	// A zip uploaded through the API or the console names its uploader; only the
	// spreadsheet's may give its rows files (one without, from the bucket itself, may).
	if zu := info.Metadata[MetaUploader]; zu != "" && zu != b.Uploader {
		sheet := "straight into the bucket, without an uploader"
		if b.Uploader != "" {
			sheet = "by " + b.Uploader
		}
		z.refuse(credbatch.CodeZipOtherUploader, fmt.Sprintf("The evidence zip %s was uploaded by %s, but the spreadsheet %s; no file of the zip was used. "+
			"The spreadsheet's uploader uploads its zip: upload it again under the same name.", path.Base(key), zu, sheet))
		return z, nil
	}
	zr, err := zip.NewReader(ra, info.Size)
	if errors.As(err, new(sourceError)) {
		z.Close()
		return nil, fmt.Errorf("evidence zip %s: %w", key, err)
	}
	if err != nil {
		z.refuse(credbatch.CodeCorruptFile, fmt.Sprintf("The evidence zip %s is not a zip archive that can be read (%v); make it again "+
			"(select the files, then Compress or Send to > Compressed folder) and upload it again under the same name.", path.Base(key), err))
		return z, nil
	}
	if err := z.index(zr, s.evidenceZipLimits()); err != nil {
		z.Close()
		return nil, err
	}
	return z, nil
}

func (s *Service) evidenceZipLimits() zipguard.Limits {
	if s.EvidenceZip.MaxTotal > 0 {
		return s.EvidenceZip
	}
	return DefaultEvidenceZipLimits()
}

// index checks the zip's directory with zipguard and indexes the entries rows may name.
func (z *EvidenceFiles) index(zr *zip.Reader, lim zipguard.Limits) error {
	name := path.Base(z.Key)
	err := zipguard.Check(zr.File, lim, matchKey, func(f *zip.File, _ string) error {
		if !ignoredEntry(f.Name) {
			z.order = append(z.order, f)
		}
		return nil
	})
	var ze *zipguard.Error
	if errors.As(err, &ze) {
		switch ze.Problem {
		case zipguard.UnsafeName:
			z.refuse(credbatch.CodeUnsafeZipEntry, fmt.Sprintf("The evidence zip %s holds an entry named %q, which escapes its folder (an absolute path, a drive letter or ..); "+
				"no file of the zip was used. Zip the files themselves and upload the zip again under the same name.", name, ze.Entry))
		case zipguard.Duplicate:
			z.refuse(credbatch.CodeUnsafeZipEntry, fmt.Sprintf("The evidence zip %s holds two entries named %q (names are compared without regard to case); "+
				"no file of the zip was used. Keep one of them and upload the zip again under the same name.", name, ze.Entry))
		case zipguard.Bomb:
			z.refuse(credbatch.CodeZipTooLarge, fmt.Sprintf("The evidence zip %s holds %q, compressed more than %d to 1 (a zip bomb); no file of the zip was used. "+
				"Zip the evidence files themselves (PDF, PNG, JPEG) and upload the zip again under the same name.", name, ze.Entry, ze.Limit))
		case zipguard.TooManyEntries:
			z.refuse(credbatch.CodeZipTooLarge, fmt.Sprintf("The evidence zip %s has more than %d entries; no file of the zip was used. "+
				"Split the spreadsheet and its files into smaller batches.", name, ze.Limit))
		default:
			z.refuse(credbatch.CodeZipTooLarge, fmt.Sprintf("The evidence zip %s unpacks to more than %d MiB; no file of the zip was used. "+
				"Split the spreadsheet and its files into smaller batches.", name, ze.Limit>>20))
		}
		z.order = nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("evidence zip %s: %w", z.Key, err)
	}
	z.root = commonRoot(z.order)
	z.entries = make(map[string]*zip.File, len(z.order))
	for _, f := range z.order {
		z.entries[strings.TrimPrefix(matchKey(f.Name), z.root)] = f
	}
	return nil
}

func (z *EvidenceFiles) refuse(code, msg string) {
	z.refused = &credbatch.Finding{Column: z.column, Code: code, Severity: credbatch.SeverityError, Message: msg}
}

// matchKey is how an entry's name and an Evidence File cell are compared: forward slashes,
// no leading "./", case folded.
func matchKey(name string) string {
	n := strings.ReplaceAll(strings.TrimSpace(name), `\`, "/")
	for strings.HasPrefix(n, "./") {
		n = n[2:]
	}
	return strings.ToLower(n)
}

// ignoredEntry reports entries no row names: folders and what archivers and file managers
// add (__MACOSX/, .DS_Store, ._ resource forks, Thumbs.db, desktop.ini).
func ignoredEntry(name string) bool {
	n := matchKey(name)
	if strings.HasSuffix(n, "/") || strings.HasPrefix(n, "__macosx/") {
		return true
	}
	base := path.Base(n)
	return strings.HasPrefix(base, ".") || base == "thumbs.db" || base == "desktop.ini"
}

// commonRoot returns the top folder every entry is in ("folder/"), or "": a zip made by
// compressing a folder names its files folder/ann.pdf, and the rows name ann.pdf.
func commonRoot(fs []*zip.File) string {
	root := ""
	for i, f := range fs {
		top, _, ok := strings.Cut(matchKey(f.Name), "/")
		if !ok || (i > 0 && top+"/" != root) {
			return ""
		}
		root = top + "/"
	}
	return root
}

// lookup finds the entry a row's Evidence File names.
func (z *EvidenceFiles) lookup(name string) *zip.File {
	k := matchKey(name)
	if f, ok := z.entries[k]; ok {
		return f
	}
	if z.root != "" {
		return z.entries[strings.TrimPrefix(k, z.root)]
	}
	return nil
}

// claim marks the entry name names (if any) as some row's: a row whose file was stored from
// this zip before.
func (z *EvidenceFiles) claim(name string) {
	if z == nil || z.refused != nil {
		return
	}
	if f := z.lookup(name); f != nil {
		z.used[f] = true
	}
}

// match finds, checks and stores the row's named file: evidence_file_not_found when the
// upload holds no file of that name, evidence_wrong_type, evidence_too_large or
// corrupt_file when the entry cannot be its evidence. The error is for failures that are not
// the row's fault (reading the zip from the bucket, storing the file).
func (z *EvidenceFiles) match(ctx context.Context, d credbatch.Definition, r *credbatch.Row, column string) error {
	f := r.Evidence.File
	fail := func(code, msg string) {
		r.Findings = append(r.Findings, credbatch.Finding{Row: r.Number, Column: column, Code: code, Severity: credbatch.SeverityError, Message: msg})
	}
	if z == nil {
		fail(credbatch.CodeEvidenceFileNotFound, fmt.Sprintf(
			"Evidence File names %q, but no evidence files were uploaded with this spreadsheet; upload them as a .zip with the same name plus .zip "+
				"(e.g. roster.xlsx.zip), or attach the file to this row", f.Name))
		return nil
	}
	zipName := path.Base(z.Key)
	if z.refused != nil {
		fail(credbatch.CodeEvidenceFileNotFound, fmt.Sprintf("Evidence File names %q, but the evidence zip %s was refused (%s, see the batch's findings); "+
			"fix the zip and upload it again under the same name, or attach the file to this row", f.Name, zipName, z.refused.Code))
		return nil
	}
	zf := z.lookup(f.Name)
	if zf == nil {
		fail(credbatch.CodeEvidenceFileNotFound, fmt.Sprintf("Evidence File names %q, but the evidence zip %s holds no file of that name; "+
			"add the file to the zip (names are compared without regard to case) or correct the name, or attach the file to this row", f.Name, zipName))
		return nil
	}
	z.used[zf] = true
	rc, err := zf.Open()
	if err != nil {
		fail(credbatch.CodeCorruptFile, fmt.Sprintf("The entry %q of the evidence zip %s cannot be read (%v); make the zip again and upload it under the same name", zf.Name, zipName, err))
		return nil
	}
	defer rc.Close()
	file, err := evidence.Read(f.Name, rc, d.Evidence, z.tmpDir)
	var ce *credbatch.Error
	switch {
	case err == nil:
	case errors.As(err, new(sourceError)):
		return fmt.Errorf("evidence zip %s: read %q: %w", z.Key, zf.Name, err)
	case errors.As(err, &ce) && ce.Kind == credbatch.KindInvalid:
		fail(ce.Code, ce.Message)
		return nil
	case errors.As(err, &ce):
		return err // local I/O
	default:
		// The entry's data is damaged (a bad checksum, deflate data that does not decode,
		// more bytes than its declared size).
		fail(credbatch.CodeCorruptFile, fmt.Sprintf("The entry %q of the evidence zip %s is damaged (%v); make the zip again and upload it under the same name", zf.Name, zipName, err))
		return nil
	}
	if z.bg != nil {
		ef, err := file.Describe(z.batchID, r.Number, z.by, z.at)
		if err != nil {
			file.Close()
			return err
		}
		number := r.Number
		if err := z.bg.put(file, func(ctx context.Context) error {
			_, err := file.Store(ctx, z.blob, z.batchID, number, z.by, z.at)
			return err
		}); err != nil {
			return err
		}
		r.Evidence.File = &ef
		return nil
	}
	defer file.Close()
	stored, err := file.Store(ctx, z.blob, z.batchID, r.Number, z.by, z.at)
	if err != nil {
		return err
	}
	r.Evidence.File = &stored
	return nil
}

// Findings are the zip's file-level findings: why it was refused, or a warning
// unmatched_evidence for each entry no row named (the first maxUnmatchedFindings, then one
// counting the rest).
func (z *EvidenceFiles) Findings() []credbatch.Finding {
	if z == nil {
		return nil
	}
	if z.refused != nil {
		f := *z.refused
		f.Column = z.column
		return []credbatch.Finding{f}
	}
	var out []credbatch.Finding
	left := 0
	for _, f := range z.order {
		if z.used[f] {
			continue
		}
		if len(out) == maxUnmatchedFindings {
			left++
			continue
		}
		out = append(out, credbatch.Finding{Column: z.column, Code: credbatch.CodeUnmatchedEvidence, Severity: credbatch.SeverityWarning,
			Message: fmt.Sprintf("The evidence zip %s holds %q, but no row's %s names it; name it in the row it belongs to and upload the zip again, or leave it out.",
				path.Base(z.Key), f.Name, z.column)})
	}
	if left > 0 {
		out = append(out, credbatch.Finding{Column: z.column, Code: credbatch.CodeUnmatchedEvidence, Severity: credbatch.SeverityWarning,
			Message: fmt.Sprintf("The evidence zip %s holds %d more files no row names.", path.Base(z.Key), left)})
	}
	return out
}

// Close waits for the files being stored, then releases the zip (and removes its local
// copy, if one was made).
func (z *EvidenceFiles) Close() error {
	if z == nil {
		return nil
	}
	z.Wait()
	var err error
	if z.ra != nil {
		err = z.ra.Close()
		z.ra = nil
	}
	if z.spooled != "" {
		os.Remove(z.spooled)
		z.spooled = ""
	}
	return err
}

// zipFindingCodes are the codes of the batch findings an evidence zip leaves (replaced when
// another zip is read).
var zipFindingCodes = []string{credbatch.CodeUnmatchedEvidence, credbatch.CodeUnsafeZipEntry, credbatch.CodeZipTooLarge, credbatch.CodeZipOtherUploader}

// isZipFinding reports whether a batch-level finding came from the evidence zip (a batch in
// review has no other file-level corrupt_file: that rejects the spreadsheet).
func isZipFinding(f credbatch.Finding) bool {
	return f.Row == 0 && (slices.Contains(zipFindingCodes, f.Code) || f.Code == credbatch.CodeCorruptFile)
}

// sourceError marks an error of reading the zip object itself (the bucket), as opposed to
// what the zip's bytes say.
type sourceError struct{ err error }

func (e sourceError) Error() string { return e.err.Error() }
func (e sourceError) Unwrap() error { return e.err }

// sourceReader marks the errors of r (other than io.EOF) as sourceError.
type sourceReader struct{ r io.ReaderAt }

func (s sourceReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.r.ReadAt(p, off)
	if err != nil && err != io.EOF {
		err = sourceError{err}
	}
	return n, err
}
