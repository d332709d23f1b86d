package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/credbatch/credbatch/shared/awstest"
	"github.com/credbatch/credbatch/shared/config"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/dynamo"
	"github.com/credbatch/credbatch/shared/evidence/evidencetest"
	"github.com/credbatch/credbatch/shared/ingest"
)

// TestEvidenceZipEventThroughTheLambda: the function as newService wires it (DynamoDB
// Local, moto S3 on a versioned bucket as the template makes it, moto SES) gets the
// recorded S3 event of a spreadsheet whose rows name evidence files, then the event of its
// zip (uploads/<sheet>.zip) through Handle, as Lambda delivers them: the batch is first
// rejected (files missing), then parsed, its rows carrying the zip's files stored under the
// batch with their digests.
func TestEvidenceZipEventThroughTheLambda(t *testing.T) {
	files := evidencetest.Make(t)
	awstest.Endpoint(t, "DYNAMODB")
	awstest.Endpoint(t, "SESV2")
	cfg := awstest.Config(t, "S3")
	ctx := context.Background()

	table, bucket := awstest.Name(t, "ingest"), awstest.Name(t, "uploads")
	ddb := dynamodb.NewFromConfig(cfg)
	if err := dynamo.CreateTable(ctx, ddb, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &table}) })
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true; o.DisableLogOutputChecksumValidationSkipped = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &bucket,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sesv2.NewFromConfig(cfg).CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("example.org")}); err != nil {
		t.Fatal(err)
	}

	svc, err := newService(config.FromMap(map[string]string{
		"TABLE_NAME": table, "BUCKET_NAME": bucket, "PUBLIC_BASE_URL": "https://badges.example.org",
		"STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:issuance",
		"MAIL_FROM":         "badges@example.org", "ISSUER_NAME": "Test Academy",
	}), cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	svc.TmpDir = t.TempDir()
	defs, err := credbatch.ParseDefinitions(strings.NewReader(`{"definitions":[
		{"id":"site","name":"Site Induction","evidence":{"policy":"required"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Store.PutDefinition(ctx, defs.Definitions[0]); err != nil {
		t.Fatal(err)
	}

	const key = "uploads/site/roster.csv"
	handle(t, svc, put(t, s3c, bucket, key, []byte("ID,First Name,Last Name,Email,Evidence File\n"+
		"site,Ann,Lee,ann@example.com,ann.pdf\n"+
		"site,Bo,Ng,bo@example.com,photos/bo.png\n")))
	b := onlyBatch(t, svc.Store)
	if b.Status != credbatch.BatchRejected || b.Counts.Invalid != 2 {
		t.Fatalf("before the zip: %s %+v, want rejected with 2 invalid rows", b.Status, b.Counts)
	}

	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for _, e := range []struct {
		name string
		data []byte
	}{{"evidence/ann.pdf", files.PDF}, {"evidence/photos/bo.png", files.PNG}} {
		w, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	handle(t, svc, put(t, s3c, bucket, ingest.EvidenceZipKey(key), zb.Bytes()))
	b = onlyBatch(t, svc.Store)
	if b.Status != credbatch.BatchParsed || b.Counts.Valid != 2 || b.Counts.Invalid != 0 || len(b.Findings) != 0 {
		t.Fatalf("after the zip: %s %+v %+v, want parsed with 2 valid rows and no findings", b.Status, b.Counts, b.Findings)
	}
	for n, want := range map[int][]byte{2: files.PDF, 3: files.PNG} {
		r, err := svc.Store.GetRow(ctx, b.ID, n)
		if err != nil {
			t.Fatal(err)
		}
		f := r.Evidence.FileNamed()
		if !f.Stored() || !strings.HasPrefix(f.Key, credbatch.EvidencePrefix+b.ID+"/") {
			t.Fatalf("row %d evidence %+v, want a file stored under the batch", n, r.Evidence)
		}
		out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &f.Key})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		h := sha512.Sum384(got)
		if !bytes.Equal(got, want) || f.Digest != "sha384-"+base64.StdEncoding.EncodeToString(h[:]) {
			t.Errorf("row %d stored %d bytes (digest %s), want the zip's %d bytes", n, len(got), f.Digest, len(want))
		}
	}
}

// put uploads content as the console does (the uploader in the metadata) and returns the
// recorded S3 event of it, as raw JSON.
func put(t *testing.T, c *s3.Client, bucket, key string, content []byte) json.RawMessage {
	t.Helper()
	out, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(content),
		Metadata: map[string]string{ingest.MetaUploader: "staff@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../shared/ingest/testdata/s3-put-unicode.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	rec := ev["Records"].([]any)[0].(map[string]any)["s3"].(map[string]any)
	rec["bucket"].(map[string]any)["name"] = bucket
	obj := rec["object"].(map[string]any)
	obj["key"], obj["size"], obj["eTag"], obj["versionId"] = key, len(content), strings.Trim(aws.ToString(out.ETag), `"`), aws.ToString(out.VersionId)
	raw, err = json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func handle(t *testing.T, svc *ingest.Service, raw json.RawMessage) {
	t.Helper()
	if err := svc.Handle(context.Background(), raw); err != nil {
		t.Fatalf("Handle: %v", err)
	}
}

func onlyBatch(t *testing.T, st credbatch.Store) credbatch.Batch {
	t.Helper()
	page, err := st.ListBatches(context.Background(), credbatch.BatchFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 {
		t.Fatalf("%d batches, want 1: %+v", len(page.Items), page.Items)
	}
	return page.Items[0]
}
