package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/credbatch/credbatch/infra/local/stack"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/evidence/evidencetest"
	"github.com/credbatch/credbatch/shared/ingest"
)

// TestEvidenceCredentialsVerify (issue 17's acceptance): credentials carrying evidence,
// issued through the real flow from a spreadsheet and the zip beside it (a PNG and a JPEG
// saved by Pillow, a PDF exported by LibreOffice) and an Evidence URL, still pass the
// independent verifiers (digitalbazaar's Data Integrity, the DCC's verifier-core, jwcrypto
// on the VC-JWT) and the official OB 3.0 JSON Schema, and each file's digestSRI is the
// SHA-384 of the bytes its URL serves, with the media type it names.
func TestEvidenceCredentialsVerify(t *testing.T) {
	tl := verifierTools(t)
	files := evidencetest.Make(t)
	s := startServer(t)
	ctx := context.Background()
	f, err := credbatch.ParseDefinitions(strings.NewReader(`{"definitions":[{"id":"site","name":"Site Induction",
		"evidence":{"policy":"optional"},"approval_required":true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.st.LoadDefinitions(ctx, f.Definitions); err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for name, b := range map[string][]byte{"photos/ada.png": files.PNG, "photos/joan.jpg": files.JPEG, "report.pdf": files.PDF} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	sheet := "First Name,Last Name,Email,Evidence File,Evidence URL,Evidence Narrative\n" +
		"Ada,Lovelace,success+ada@simulator.amazonses.com,photos/ada.png,,Photographed at the site gate\n" +
		"Joan,Clarke,success+joan@simulator.amazonses.com,photos/joan.jpg,https://example.org/portfolio/joan,\n" +
		"Alan,Turing,success+alan@simulator.amazonses.com,report.pdf,,Supervisor's report\n" +
		"Grace,Hopper,success+grace@simulator.amazonses.com,,https://example.org/portfolio/grace,Portfolio of site visits\n"
	key := ingest.UploadsPrefix + "site/induction.csv"
	meta := map[string]string{ingest.MetaLabel: "Induction", ingest.MetaUploader: uploader}
	// The zip first, as the README advises, then its spreadsheet.
	if _, err := s.st.Bucket.Put(ctx, ingest.EvidenceZipKey(key), bytes.NewReader(zb.Bytes()), ingest.ContentTypeZip, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.Bucket.Put(ctx, key, strings.NewReader(sheet), "text/csv", meta); err != nil {
		t.Fatal(err)
	}
	w := &stack.Watcher{Stack: s.st, Settle: 20 * time.Millisecond}
	var b credbatch.Batch
	for i := 0; ; i++ {
		got, err := w.Scan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range got {
			if g.Source.Key == key {
				b = g
			}
		}
		if b.ID != "" {
			break
		}
		if i > 250 {
			t.Fatalf("the watcher did not pick up %s", key)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Every row is valid, so ingest submits the batch itself; it waits for approval.
	b = s.waitBatch(t, b.ID, "a task token", func(b credbatch.Batch) bool { return b.TaskToken != "" || b.Status.Terminal() })
	if b.Status != credbatch.BatchAwaitingApproval || b.Counts.Valid != 4 {
		t.Fatalf("batch %s %+v, findings %+v; want awaiting approval with 4 valid rows", b.Status, b.Counts, b.Findings)
	}
	if _, err := s.st.Actions.Approve(ctx, b.ID, "approver@example.com"); err != nil {
		t.Fatal(err)
	}
	b = s.waitBatch(t, b.ID, "completion", func(b credbatch.Batch) bool { return b.Status.Terminal() })
	creds, err := s.st.Store.ListCredentialsByBatch(ctx, b.ID, "", 10)
	if err != nil || len(creds.Items) != 4 {
		t.Fatalf("credentials = %d, %v (batch %s %+v)", len(creds.Items), err, b.Status, b.Counts)
	}

	didDoc := get(t, s.url+"/.well-known/did.json", "")
	list := get(t, s.url+"/status/1", "application/vc+ld+json")
	wantTypes := map[string]string{"Ada": "image/png", "Joan": "image/jpeg", "Alan": "application/pdf"}
	files2, links := 0, 0
	for _, c := range creds.Items {
		doc := get(t, s.url+"/credentials/"+c.ID+"/json", "")
		var m struct {
			CredentialSubject struct {
				Name string `json:"name"`
			} `json:"credentialSubject"`
			Evidence []struct {
				ID, Name, Narrative, Genre, MediaType, DigestSRI string
			} `json:"evidence"`
		}
		if err := json.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatal(err)
		}
		if len(m.Evidence) == 0 {
			t.Errorf("%s (%s): no evidence in %.300s", c.ID, m.CredentialSubject.Name, doc)
		}
		for _, e := range m.Evidence {
			if e.DigestSRI == "" {
				links++
				if !strings.HasPrefix(e.ID, "https://example.org/portfolio/") {
					t.Errorf("%s: link evidence %+v", c.ID, e)
				}
				continue
			}
			files2++
			body, ctype := fetch(t, e.ID)
			sum := sha512.Sum384(body)
			if got := "sha384-" + base64.StdEncoding.EncodeToString(sum[:]); got != e.DigestSRI {
				t.Errorf("%s: the file served at %s hashes to %s; the credential says %s", c.ID, e.ID, got, e.DigestSRI)
			}
			if ctype != e.MediaType {
				t.Errorf("%s: %s served as %q; the credential says %q", c.ID, e.ID, ctype, e.MediaType)
			}
			first := strings.Fields(m.CredentialSubject.Name + " x")[0]
			if want, ok := wantTypes[first]; ok && e.MediaType != want {
				t.Errorf("%s (%s): evidence media type %s, want %s", c.ID, first, e.MediaType, want)
			}
		}
		if out, ok := tl.dataIntegrity(t, doc); !ok || out["revoked"] != false {
			t.Errorf("%s: Data Integrity = %v, accepted %v; want verified, not revoked", c.ID, out, ok)
		}
		if out, ok := tl.dcc(t, doc, didDoc, list); !ok || out["signature"] != true || out["revoked"] != false || out["schema"] != true {
			t.Errorf("%s: verifier-core = %v, accepted %v; want signature and schema valid, not revoked", c.ID, out, ok)
		}
		if out, ok := tl.schema(t, doc); !ok {
			t.Errorf("%s: OB 3.0 schema: %v", c.ID, out)
		}
		token := get(t, s.url+"/credentials/"+c.ID+"/jwt", "")
		if out, ok := tl.jwt(t, token); !ok {
			t.Errorf("%s: VC-JWT: %v", c.ID, out)
		}
		if out, ok := tl.schema(t, string(jwtPayload(t, token))); !ok {
			t.Errorf("%s: OB 3.0 schema on the JWT payload: %v", c.ID, out)
		}
	}
	if files2 != 3 || links != 2 {
		t.Errorf("%d file and %d link evidence entries; want 3 files (PNG, JPEG, PDF) and 2 links", files2, links)
	}
}

// fetch GETs a URL, following redirects (a large file redirects to a presigned URL), and
// returns the body and its media type.
func fetch(t *testing.T, url string) ([]byte, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d: %s", url, resp.StatusCode, body)
	}
	return body, resp.Header.Get("Content-Type")
}
