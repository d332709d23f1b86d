package issuance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/statuslist"
)

// publishedList returns stored status list 1 after checking that both of its signed forms
// verify with the harness's keys and carry the same list.
func publishedList(t *testing.T, h *harness) (credbatch.StatusList, *statuslist.List) {
	t.Helper()
	pub, err := h.store.GetStatusList(context.Background(), 1)
	if err != nil {
		t.Fatalf("stored status list 1: %v", err)
	}
	v := credential.NewVerifier(h.keys, nil)
	for form, doc := range map[string]string{"JSON-LD": pub.JSONLD, "VC-JWT": pub.JWT} {
		payload, _, _, err := v.VerifySignature(doc)
		if err != nil {
			t.Fatalf("stored status list 1 (%s) does not verify: %v", form, err)
		}
		var d statuslist.Document
		if err := json.Unmarshal(payload, &d); err != nil || d.CredentialSubject.EncodedList != pub.EncodedList {
			t.Fatalf("stored status list 1 (%s) carries %.40q, the item %.40q (%v)", form, d.CredentialSubject.EncodedList, pub.EncodedList, err)
		}
	}
	list, err := statuslist.Decode(pub.EncodedList)
	if err != nil {
		t.Fatal(err)
	}
	return pub, list
}

// TestRevocationsPublishTheSignedStatusList: issuing publishes the list the credentials
// point into before they exist; each revocation (one, concurrent ones into the same list, a
// batch) signs and stores the list with every revoked entry set, on SQLite and DynamoDB
// Local. Concurrent revocations lose no update (the publication is a compare-and-swap).
func TestRevocationsPublishTheSignedStatusList(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			h := newHarnessOn(t, 10, st.open(t))
			if _, err := h.svc.IssueChunk(ctx, h.chunk()); err != nil {
				t.Fatal(err)
			}
			pub, list := publishedList(t, h)
			if pub.Version != 1 {
				t.Errorf("after issuing, status list 1 is at version %d, want 1 (published once, before the first credential)", pub.Version)
			}
			creds, err := h.store.ListCredentialsByBatch(ctx, h.batch, "", 100)
			if err != nil || len(creds.Items) != 10 {
				t.Fatalf("credentials %d, %v", len(creds.Items), err)
			}
			for _, c := range creds.Items {
				if revoked, _ := list.Get(c.StatusListIndex); revoked {
					t.Errorf("credential %s is revoked in the list before any revocation", c.ID)
				}
			}

			// Revocations of different credentials at once, into one list.
			racing := creds.Items[:6]
			var wg sync.WaitGroup
			errs := make([]error, len(racing))
			for i, c := range racing {
				wg.Go(func() { _, errs[i] = h.svc.Revoke(ctx, c.ID, "admin", fmt.Sprint("racer ", i)) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("revocation %d: %v", i, err)
				}
			}
			pub, list = publishedList(t, h)
			if pub.Version != 1+len(racing) {
				t.Errorf("after %d revocations the list is at version %d, want %d (one publication each)", len(racing), pub.Version, 1+len(racing))
			}
			want := map[string]bool{}
			for _, c := range racing {
				want[c.ID] = true
			}
			check := func(when string) {
				t.Helper()
				for _, c := range creds.Items {
					if got, _ := list.Get(c.StatusListIndex); got != want[c.ID] {
						t.Errorf("%s: credential %s revoked %v in the stored list, want %v", when, c.ID, got, want[c.ID])
					}
				}
			}
			check("after concurrent revocations")

			// Revoking again publishes nothing new.
			if _, err := h.svc.Revoke(ctx, racing[0].ID, "admin", "again"); !credbatch.IsKind(err, credbatch.KindConflict) {
				t.Errorf("revoking twice: %v, want a conflict", err)
			}
			if again, _ := publishedList(t, h); again.Version != pub.Version {
				t.Errorf("a repeated revocation published version %d", again.Version)
			}

			// The batch: the rest, in one publication.
			n, _, err := h.svc.RevokeBatch(ctx, h.batch, "admin", "course withdrawn")
			if err != nil || n != len(creds.Items)-len(racing) {
				t.Fatalf("batch revocation revoked %d, %v", n, err)
			}
			for _, c := range creds.Items {
				want[c.ID] = true
			}
			before := pub.Version
			pub, list = publishedList(t, h)
			if pub.Version != before+1 {
				t.Errorf("batch revocation: version %d, want %d (one publication for the batch)", pub.Version, before+1)
			}
			check("after the batch revocation")
		})
	}
}
