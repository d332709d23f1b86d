package main

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/dirblob"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/s3blob"
	"github.com/credbatch/credbatch/shared/sheet"
	"github.com/credbatch/credbatch/shared/sqlite"
)

// evidenceDefinition requires a file on every row (10 MiB each at most, PDF, PNG, JPEG).
const evidenceDefinition = `{"definitions":[{"id":"bench-ev","name":"Benchmark Evidence","evidence":{"policy":"required"}}]}`

// evidenceRun is one evidence zip of the section: files of fileSize bytes, half PNG, half
// PDF by their leading bytes, the rest random (incompressible: stored, as zips of photos
// and PDFs mostly are).
type evidenceRun struct {
	files    int
	fileSize int
}

// benchEvidence times the ingest of a spreadsheet with its evidence zip (the zip first, so
// that the spreadsheet's ingest reads it), a 500 MiB zip of 2,000 files against a 50 MiB zip
// of 200 files of the same size, each in a fresh process for its peak RSS: on a folder
// (the local stack's bucket, read with the file's ReadAt) and, when AWS_ENDPOINT_URL_S3 is
// set, on the S3 emulator through s3blob (ranged GETs, as the Lambda reads it).
func benchEvidence(ctx context.Context, work string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// The middle run has the rows of the last and the bytes of the first: what grows with
	// the rows (the batch's rows, the zip's directory) apart from what grows with the bytes.
	runs := []evidenceRun{{files: 200, fileSize: 256 << 10}, {files: 2000, fileSize: 256 << 10 / 10}, {files: 2000, fileSize: 256 << 10}}
	blobs := []string{"dir"}
	if os.Getenv("AWS_ENDPOINT_URL_S3") != "" {
		blobs = append(blobs, "s3")
	} else {
		fmt.Println("(AWS_ENDPOINT_URL_S3 unset: the S3 rows are left out; make bench starts moto)")
	}
	fmt.Println("== evidence zip: ingest of a spreadsheet whose every row names a file of its zip (uploads/<sheet>.csv.zip), zip first; 500 MiB / 2,000 files vs 50 MiB / 200 files, same run")
	fmt.Printf("%-5s %-22s %10s %10s %10s %7s | %7s %7s\n", "blob", "zip", "ingest", "MiB/s", "peak RSS", "GETs", "time", "RSS")
	for _, blob := range blobs {
		var base measured
		for i, r := range runs {
			dir := filepath.Join(work, fmt.Sprintf("evidence-%s-%d", blob, r.files))
			zipPath, sheetPath, err := writeEvidenceUpload(dir, r)
			if err != nil {
				return err
			}
			bucket := ""
			if blob == "s3" {
				if bucket, err = uploadToS3(ctx, zipPath, sheetPath); err != nil {
					return err
				}
			}
			m, err := runChild(self, "evidence-ingest", dir, blob, bucket)
			if err != nil {
				return err
			}
			var got evidenceResult
			if err := json.Unmarshal(m.out, &got); err != nil {
				return fmt.Errorf("evidence-ingest %s %d: %w (%s)", blob, r.files, err, m.out)
			}
			if got.Status != string(credbatch.BatchParsed) || got.Valid != r.files || got.Stored != r.files || got.StoredBytes != int64(r.files*r.fileSize) {
				return fmt.Errorf("evidence-ingest %s %d: %+v, want parsed with every row valid and its file stored", blob, r.files, got)
			}
			size := float64(r.files*r.fileSize) / (1 << 20)
			label := fmt.Sprintf("%.0f MiB / %d files", size, r.files)
			gets := "-"
			if blob == "s3" {
				gets = fmt.Sprint(got.Gets)
			}
			if i == 0 {
				base = m
				fmt.Printf("%-5s %-22s %9.2fs %10.1f %10s %7s | %7s %7s\n", blob, label, m.wall.Seconds(), size/m.wall.Seconds(), mb(m.maxRSS), gets, "1x", "1x")
			} else {
				fmt.Printf("%-5s %-22s %9.2fs %10.1f %10s %7s | %6.2fx %6.2fx\n", blob, label, m.wall.Seconds(), size/m.wall.Seconds(), mb(m.maxRSS), gets,
					m.wall.Seconds()/base.wall.Seconds(), float64(m.maxRSS)/float64(base.maxRSS))
			}
			os.RemoveAll(dir)
		}
	}
	fmt.Println("time and RSS: over the 50 MiB / 200-file zip's of the same blob in the same run. Memory must not grow with the zip's bytes: compare the two 2,000-file rows")
	fmt.Println("(50 MiB and 500 MiB, the same rows); what the 2,000 rows add over 200 (rows, the zip's directory) is in the middle row")
	fmt.Println("every file is checked by content, hashed (sha384), spooled to a temporary file and stored under evidence/<batch>/; GETs: every GET of the ingest")
	fmt.Println("(the spreadsheet's and the zip's ranged GETs: the directory, then entries read in turn from one response)")
	return nil
}

// writeEvidenceUpload writes dir/blob/uploads/bench.csv and its zip (bench.csv.zip),
// deterministically: the same run gives the same bytes.
func writeEvidenceUpload(dir string, r evidenceRun) (zipPath, sheetPath string, err error) {
	up := filepath.Join(dir, "blob", ingest.UploadsPrefix)
	if err := os.MkdirAll(up, 0o755); err != nil {
		return "", "", err
	}
	sheetPath = filepath.Join(up, "bench.csv")
	zipPath = sheetPath + ingest.EvidenceZipSuffix
	zf, err := os.Create(zipPath)
	if err != nil {
		return "", "", err
	}
	defer zf.Close()
	bw := bufio.NewWriterSize(zf, 1<<20)
	zw := zip.NewWriter(bw)
	var csv strings.Builder
	csv.WriteString("ID,First Name,Last Name,Email,Evidence File\n")
	rng := rand.NewChaCha8([32]byte{'c', 'r', 'e', 'd', 'b', 'a', 't', 'c', 'h'})
	buf := make([]byte, r.fileSize)
	for i := range r.files {
		name, magic := fmt.Sprintf("files/%05d.png", i), []byte("\x89PNG\r\n\x1a\n")
		if i%2 == 1 {
			name, magic = fmt.Sprintf("files/%05d.pdf", i), []byte("%PDF-1.7\n")
		}
		rng.Read(buf)
		copy(buf, magic)
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)})
		if err != nil {
			return "", "", err
		}
		if _, err := w.Write(buf); err != nil {
			return "", "", err
		}
		fmt.Fprintf(&csv, "bench-ev,Learner,%05d,learner%05d@example.org,%s\n", i, i, strings.TrimPrefix(name, "files/"))
	}
	if err := zw.Close(); err != nil {
		return "", "", err
	}
	if err := bw.Flush(); err != nil {
		return "", "", err
	}
	return zipPath, sheetPath, os.WriteFile(sheetPath, []byte(csv.String()), 0o644)
}

// uploadToS3 puts the zip, then the spreadsheet, into a new bucket on the S3 emulator.
func uploadToS3(ctx context.Context, zipPath, sheetPath string) (string, error) {
	c, err := benchS3(ctx)
	if err != nil {
		return "", err
	}
	bucket := fmt.Sprintf("bench-evidence-%d", time.Now().UnixNano())
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		return "", fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	for _, p := range []string{zipPath, sheetPath} {
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		key := ingest.UploadsPrefix + filepath.Base(p)
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: f})
		f.Close()
		if err != nil {
			return "", fmt.Errorf("put %s: %w", key, err)
		}
		os.Remove(p)
	}
	return bucket, nil
}

func benchS3(ctx context.Context) (*s3.Client, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("us-east-1"))
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true
	}), nil
}

// evidenceResult is what evidence-ingest prints.
type evidenceResult struct {
	Status      string `json:"status"`
	Valid       int    `json:"valid"`
	Stored      int    `json:"stored"`
	StoredBytes int64  `json:"stored_bytes"`
	Gets        int64  `json:"gets"`
}

// evidenceIngest is the child: it ingests uploads/bench.csv (its zip already beside it) into
// a new SQLite store over the folder dir/blob, or over the S3 bucket, and prints the batch.
func evidenceIngest(dir, blobKind, bucket string) error {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "credbatch.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	defs, err := credbatch.ParseDefinitions(strings.NewReader(evidenceDefinition))
	if err != nil {
		return err
	}
	if _, err := st.PutDefinition(ctx, defs.Definitions[0]); err != nil {
		return err
	}
	var blob credbatch.Blob
	var gets *countingGets
	switch blobKind {
	case "dir":
		if blob, err = dirblob.New(filepath.Join(dir, "blob"), dirblob.WithBucket("local")); err != nil {
			return err
		}
		bucket = "local"
	case "s3":
		cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("us-east-1"))
		if err != nil {
			return err
		}
		gets = &countingGets{}
		c := s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.UsePathStyle = true
			o.DisableLogOutputChecksumValidationSkipped = true
			o.HTTPClient = &http.Client{Transport: gets}
		})
		blob = s3blob.New(c, s3.NewPresignClient(c), bucket)
	default:
		return fmt.Errorf("blob %q", blobKind)
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	svc := &ingest.Service{Store: st, Blob: blob, Limits: sheet.DefaultLimits(), TmpDir: tmp}
	const key = ingest.UploadsPrefix + "bench.csv"
	info, err := blob.Head(ctx, key)
	if err != nil {
		return err
	}
	b, err := svc.Ingest(ctx, ingest.Object{Bucket: bucket, Key: key, VersionID: info.VersionID, ETag: info.ETag})
	if err != nil {
		return err
	}
	res := evidenceResult{Status: string(b.Status), Valid: b.Counts.Valid}
	if gets != nil {
		res.Gets = gets.n.Load()
	}
	for n := 2; n < 2+b.Counts.Rows; n++ {
		r, err := st.GetRow(ctx, b.ID, n)
		if err != nil {
			return err
		}
		if f := r.Evidence.FileNamed(); f.Stored() {
			res.Stored++
			res.StoredBytes += f.Size
		}
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// countingGets counts the GET requests a client sends.
type countingGets struct{ n atomic.Int64 }

func (c *countingGets) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet {
		c.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}
