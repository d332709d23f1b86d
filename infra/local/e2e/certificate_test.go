package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
)

// issue stores a signed credential of web-101 for the browser tests.
func (s *server) issue(t *testing.T, c credbatch.Credential) credbatch.Credential {
	t.Helper()
	ctx := context.Background()
	def, err := s.st.Store.GetDefinition(ctx, "web-101", 0)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := s.st.Store.AllocateStatusIndexes(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	c.BatchID, c.DefinitionID, c.DefinitionVer, c.StatusListIndex = "batch-e2e", def.ID, def.Version, idx
	c.Status, c.EmailStatus, c.IssuedAt = credbatch.CredentialIssued, credbatch.EmailSent, time.Now()
	doc, err := credential.Build(s.st.Config.Issuer, def, c)
	if err != nil {
		t.Fatal(err)
	}
	secured, err := s.st.Signer.Secure(doc, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c.JWT = string(secured)
	if err := s.st.Store.CreateCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCredentialPageScreenshots renders valid, expired and revoked credentials (with a long,
// unbreakable name) at 1280 and 390 pixels wide, checks the status shown, that nothing
// overflows sideways and that the copy-link script ran under the page's CSP. Screenshots go
// (PNG) to $CREDBATCH_SCREENSHOTS when set.
func TestCredentialPageScreenshots(t *testing.T) {
	exe := chromium(t)
	s := startServer(t)
	long := "Maximiliana Wolfeschlegelsteinhausenbergerdorffvoralternwarengewissenhaft"
	valid := s.issue(t, credbatch.Credential{ID: "a1b2c3d4e5f60718293a4b5c6d7e8f90", Email: "ada@example.com", Name: long,
		IssueDate: "2026-01-15", ExpiryDate: "2099-12-31", Attributes: map[string]string{"Score": "91"}})
	expired := s.issue(t, credbatch.Credential{ID: "b1b2c3d4e5f60718293a4b5c6d7e8f90", Email: "bo@example.com", Name: "Bo Ng",
		IssueDate: "2019-03-01", ExpiryDate: "2020-12-31", Attributes: map[string]string{"Score": "70"}})
	revoked := s.issue(t, credbatch.Credential{ID: "c1b2c3d4e5f60718293a4b5c6d7e8f90", Email: "cy@example.com", Name: "Cy Oh",
		IssueDate: "2026-02-01", Attributes: map[string]string{"Score": "90"}})
	if _, err := s.st.Store.RevokeCredential(context.Background(), revoked.ID, "issuer@example.com: issued in error",
		time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("CREDBATCH_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	ctx := browser(t, exe)
	cases := []struct {
		name, id, status string
		lacks            []string
	}{
		{"valid", valid.ID, "Valid until 31 December 2099.", nil},
		{"expired", expired.ID, "Expired: this credential expired on 31 December 2020.", []string{"Verified:"}},
		{"revoked", revoked.ID, "Revoked: this credential was revoked on 4 March 2026 (issued in error). It no longer certifies this achievement.", []string{"Verified:", "issuer@example.com", "Download badge"}},
	}
	for _, width := range []int64{1280, 390} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/%d", tc.name, width), func(t *testing.T) {
				if err := chromedp.Do(ctx,
					chromedp.EmulateViewport(width, 900),
					chromedp.Navigate(s.url+"/credentials/"+tc.id),
					chromedp.WaitVisible(chromedp.CSS("#status")),
				); err != nil {
					t.Fatal(err)
				}
				overflow, err := chromedp.Run(ctx, chromedp.Evaluate[string](overflowJS))
				if err != nil {
					t.Fatal(err)
				}
				copyHidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("button[data-copy]").hidden`))
				if err != nil {
					t.Fatal(err)
				}
				body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
				if err != nil {
					t.Fatal(err)
				}
				shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("credential-%s-%d.png", tc.name, width)), shot, 0o644); err != nil {
					t.Fatal(err)
				}
				if overflow != "" {
					t.Errorf("overflow at %d px: %s", width, overflow)
				}
				if got := textOf(t, ctx, "#status"); got != tc.status {
					t.Errorf("status = %q, want %q", got, tc.status)
				}
				for _, l := range tc.lacks {
					if strings.Contains(body, l) {
						t.Errorf("page shows %q", l)
					}
				}
				if copyHidden {
					t.Error("the Copy link button is still hidden: the page's script did not run (CSP hash?)")
				}
			})
		}
	}
}
