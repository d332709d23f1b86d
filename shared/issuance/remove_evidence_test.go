package issuance_test

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/credbatch/credbatch/shared/awstest"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/dirblob"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/s3blob"
)

// blobs pair each store with a bucket: a directory with SQLite, a versioned moto S3 bucket
// with DynamoDB Local.
var blobs = map[string]func(t *testing.T) credbatch.Blob{
	"sqlite": func(t *testing.T) credbatch.Blob {
		b, err := dirblob.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b
	},
	"dynamodb": func(t *testing.T) credbatch.Blob {
		client := s3.NewFromConfig(awstest.Config(t, "S3"), func(o *s3.Options) {
			o.UsePathStyle = true
			o.DisableLogOutputChecksumValidationSkipped = true
		})
		bucket := awstest.Name(t, "ev")
		ctx := context.Background()
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
			t.Fatal(err)
		}
		return s3blob.New(client, s3.NewPresignClient(client), bucket)
	},
}

// TestRemoveEvidence: an administrator's removal deletes the credential's evidence file from
// the bucket, keeps the credential as signed, records evidence.removed with the reason, and
// makes the file's URL answer evidence_removed; a second removal changes nothing; a
// credential without a file, or none, is not found.
func TestRemoveEvidence(t *testing.T) {
	file := []byte("\x89PNG\r\n\x1a\nthe bytes the credential's digest was computed over")
	sum := sha512.Sum384(file)
	digest := "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
	key, err := credbatch.EvidenceKey("b1", 2, digest, "image/png")
	if err != nil {
		t.Fatal(err)
	}
	doc := `{"id":"https://creds.example.org/credentials/c1","evidence":[{"id":"https://creds.example.org/credentials/c1/evidence/1",` +
		`"type":["Evidence"],"name":"site.png","genre":"Image","mediaType":"image/png","digestSRI":"` + digest + `"}]}`
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			st, blob := s.open(t), blobs[s.name](t)
			svc := &issuance.Service{Store: st, Blob: blob, Clock: func() time.Time { return time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC) }}
			for _, c := range []credbatch.Credential{
				{ID: "c1", BatchID: "b1", RowNumber: 2, JWT: doc},
				{ID: "c2", BatchID: "b1", RowNumber: 3, JWT: `{"id":"https://creds.example.org/credentials/c2"}`},
			} {
				c.DefinitionID, c.DefinitionVer, c.Email, c.Name, c.IssueDate = "site", 1, "ann@example.com", "Ann Lee", "2026-12-04"
				c.Status, c.EmailStatus, c.IssuedAt = credbatch.CredentialIssued, credbatch.EmailSent, time.Now()
				if err := st.CreateCredential(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := blob.Put(ctx, key, bytes.NewReader(file), "image/png", nil); err != nil {
				t.Fatal(err)
			}
			// The same file stored twice: on a versioned bucket both versions must go.
			if _, err := blob.Put(ctx, key, bytes.NewReader(file), "image/png", nil); err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				name, id    string
				wantRemoved bool
				wantCode    string
			}{
				{"stored file", "c1", true, ""},
				{"removed already", "c1", false, ""},
				{"no evidence file", "c2", false, "no_evidence"},
				{"no such credential", "c9", false, string(credbatch.KindNotFound)},
			}
			for _, tt := range tests {
				ev, removed, err := svc.RemoveEvidence(ctx, tt.id, "admin@example.com", " wrong photo ")
				if tt.wantCode != "" {
					if credbatch.ErrorCode(err) != tt.wantCode {
						t.Errorf("%s: %v, want %s", tt.name, err, tt.wantCode)
					}
					continue
				}
				if err != nil || removed != tt.wantRemoved || ev.Digest != digest || ev.Key != key {
					t.Fatalf("%s: removed %v %+v, %v", tt.name, removed, ev, err)
				}
			}
			if _, err := blob.Head(ctx, key); !credbatch.IsKind(err, credbatch.KindNotFound) {
				t.Errorf("the file is still stored: %v", err)
			}
			if c, _ := st.GetCredential(ctx, "c1"); c.JWT != doc {
				t.Error("the signed credential changed")
			}
			ev, err := svc.Evidence(ctx, "c1")
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := svc.OpenEvidence(ctx, ev); credbatch.ErrorCode(err) != issuance.CodeEvidenceRemoved {
				t.Errorf("opening the removed file: %v, want %s", err, issuance.CodeEvidenceRemoved)
			}
			audit, err := st.ListAudit(ctx, "", 10)
			if err != nil || len(audit.Items) != 1 {
				t.Fatalf("audit %+v, %v; want one entry", audit.Items, err)
			}
			a := audit.Items[0]
			if a.Action != credbatch.AuditEvidenceRemoved || a.Target != "credential/c1" || a.Actor != "admin@example.com" ||
				len(a.Changes) != 1 || a.Changes[0].Old != "site.png "+digest || a.Changes[0].New != "removed: wrong photo" {
				t.Errorf("audit entry %+v", a)
			}
		})
	}
}
