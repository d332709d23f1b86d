package statuslist_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/keys"
	"github.com/credbatch/credbatch/shared/sqlite"
	"github.com/credbatch/credbatch/shared/statuslist"
)

// TestPublisher: Ensure publishes a list once; a list published for the first time keeps the
// revocations already in the store; Revoke publishes only lists it changes, each signed in
// both forms with the list's URL as id; bad input is refused.
func TestPublisher(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	set, err := keys.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := credential.NewSigner(set, "did:web:creds.example")
	if err != nil {
		t.Fatal(err)
	}
	iss := credential.Issuer{BaseURL: "https://creds.example"}
	now := time.Date(2026, 12, 4, 7, 0, 0, 0, time.UTC)
	p := &statuslist.Publisher{Store: st, Signer: signer, Issuer: iss.ID(), ListURL: iss.StatusListURLFor, Clock: func() time.Time { return now }}

	// A credential revoked before its list was ever published (an older deployment).
	c := credbatch.Credential{ID: "old", BatchID: "b", RowNumber: 2, DefinitionID: "d", Email: "a@example.com", StatusListIndex: statuslist.Size + 9,
		Status: credbatch.CredentialIssued, EmailStatus: credbatch.EmailSent, IssuedAt: now}
	if err := st.CreateCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RevokeCredential(ctx, c.ID, "r", now); err != nil {
		t.Fatal(err)
	}

	type want struct {
		list, version int
		set           []int
	}
	check := func(w want) {
		t.Helper()
		pub, err := st.GetStatusList(ctx, w.list)
		if err != nil {
			t.Fatalf("list %d: %v", w.list, err)
		}
		if pub.Version != w.version {
			t.Errorf("list %d at version %d, want %d", w.list, pub.Version, w.version)
		}
		for form, doc := range map[string]string{"JSON-LD": pub.JSONLD, "VC-JWT": pub.JWT} {
			payload, _, _, err := credential.NewVerifier(set, nil).VerifySignature(doc)
			if err != nil {
				t.Fatalf("list %d (%s) does not verify: %v", w.list, form, err)
			}
			var d statuslist.Document
			if err := json.Unmarshal(payload, &d); err != nil || d.ID != iss.StatusListURLFor(w.list) || d.CredentialSubject.EncodedList != pub.EncodedList {
				t.Errorf("list %d (%s): id %q, list %.20q; want %s, %.20q (%v)", w.list, form, d.ID, d.CredentialSubject.EncodedList, iss.StatusListURLFor(w.list), pub.EncodedList, err)
			}
		}
		l, err := statuslist.Decode(pub.EncodedList)
		if err != nil {
			t.Fatal(err)
		}
		count := 0
		for i := range l.Len() {
			if ok, _ := l.Get(i); ok {
				count++
			}
		}
		for _, i := range w.set {
			if ok, _ := l.Get(i); !ok {
				t.Errorf("list %d: entry %d is not set", w.list, i)
			}
		}
		if count != len(w.set) {
			t.Errorf("list %d has %d entries set, want %d", w.list, count, len(w.set))
		}
	}

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(p.Ensure(ctx, 1))
	must(p.Ensure(ctx, 1))
	check(want{1, 1, nil})
	must(p.Ensure(ctx, 2))
	check(want{2, 1, []int{9}})                   // the earlier revocation is kept
	must(p.Revoke(ctx, 5, statuslist.Size+9, 77)) // list 2's entry is set already
	check(want{1, 2, []int{5, 77}})
	check(want{2, 1, []int{9}})
	must(p.Revoke(ctx, 3*statuslist.Size+1)) // a list not published yet
	check(want{4, 1, []int{1}})
	if _, err := st.GetStatusList(ctx, 3); !credbatch.IsKind(err, credbatch.KindNotFound) {
		t.Errorf("list 3 was published: %v", err)
	}
	if err := p.Revoke(ctx, -1); !credbatch.IsKind(err, credbatch.KindInvalid) {
		t.Errorf("Revoke(-1) = %v, want KindInvalid", err)
	}
	if err := p.Ensure(ctx, 0); !credbatch.IsKind(err, credbatch.KindInvalid) {
		t.Errorf("Ensure(0) = %v, want KindInvalid", err)
	}
	unsigned := *p
	unsigned.Signer = nil
	if err := unsigned.Ensure(ctx, 5); !credbatch.IsKind(err, credbatch.KindInternal) {
		t.Errorf("Ensure without a signer = %v, want KindInternal", err)
	}
}
