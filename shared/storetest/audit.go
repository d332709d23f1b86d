package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

var auditTests = []namedTest{
	{"StoredWithTheVersion", testAuditWithDefinition},
	{"NotStoredWhenTheVersionIsRefused", testAuditConflict},
	{"ListNewestFirstPaged", testAuditList},
	{"RecordedAlone", testAuditRecorded},
}

func auditEntry(id string, changes ...credbatch.Change) credbatch.AuditEntry {
	return credbatch.AuditEntry{ID: id, Actor: "admin@example.com", Action: credbatch.AuditPolicyChanged,
		Target: "definition/course", Changes: changes}
}

func testAuditWithDefinition(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	d := newDefinition("course")
	v1, err := s.PutDefinition(ctx, d, auditEntry("a1", credbatch.Change{Field: "approval_required", New: "true"}))
	must(t, err, "put v1 with its audit entry")
	d.Version, d.ApprovalRequired = 1, false
	v2, err := s.PutDefinition(ctx, d, auditEntry("a2", credbatch.Change{Field: "approval_required", Old: "true", New: "false"}))
	must(t, err, "put v2 with its audit entry")
	got, err := s.ListAudit(ctx, "", 0)
	must(t, err, "list audit")
	if len(got.Items) != 2 || got.Next != "" {
		t.Fatalf("audit: got %d entries (next %q), want 2", len(got.Items), got.Next)
	}
	want := auditEntry("a2", credbatch.Change{Field: "approval_required", Old: "true", New: "false"})
	want.At, want.Version = v2.CreatedAt, 2
	e := got.Items[0]
	e.At, want.At = utc(e.At), utc(want.At)
	diff(t, "newest entry", e, want)
	if got.Items[1].ID != "a1" || got.Items[1].Version != 1 || !utc(got.Items[1].At).Equal(utc(v1.CreatedAt)) {
		t.Fatalf("oldest entry %+v: want a1 at version 1, %v", got.Items[1], v1.CreatedAt)
	}
}

func testAuditConflict(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	d := newDefinition("course")
	_, err := s.PutDefinition(ctx, d)
	must(t, err, "put v1")
	_, err = s.PutDefinition(ctx, d)
	must(t, err, "put v2")
	d.Version = 1 // stale: the latest is 2
	_, err = s.PutDefinition(ctx, d, auditEntry("lost", credbatch.Change{Field: "four_eyes", Old: "true", New: "false"}))
	wantKind(t, err, credbatch.KindConflict, "put over a stale version")
	// An entry whose id is taken refuses the whole write: no version without its record.
	_, err = s.PutDefinition(ctx, credbatch.Definition{ID: "other", Name: "Other"}, auditEntry("dup"))
	must(t, err, "put other")
	_, err = s.PutDefinition(ctx, credbatch.Definition{ID: "other", Name: "Other 2"}, auditEntry("dup"))
	wantKind(t, err, credbatch.KindConflict, "put with a used audit id")
	latest, err := s.GetDefinition(ctx, "other", 0)
	must(t, err, "get other")
	if latest.Version != 1 {
		t.Fatalf("other is at version %d after the refused write, want 1", latest.Version)
	}
	got, err := s.ListAudit(ctx, "", 0)
	must(t, err, "list audit")
	if len(got.Items) != 1 || got.Items[0].ID != "dup" {
		t.Fatalf("audit after refused writes: %s, want only the first dup entry", show(got.Items))
	}
}

func testAuditList(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	const n = 7
	for i := range n {
		_, err := s.PutDefinition(ctx, newDefinition("course"), auditEntry(fmt.Sprintf("e%02d", i)))
		must(t, err, "put definition")
	}
	got := collect(t, "list audit", 3, func(cursor string, limit int) (credbatch.Page[credbatch.AuditEntry], error) {
		return s.ListAudit(ctx, cursor, limit)
	})
	if len(got) != n {
		t.Fatalf("got %d entries, want %d", len(got), n)
	}
	for i, e := range got {
		if want := fmt.Sprintf("e%02d", n-1-i); e.ID != want || e.Version != n-i {
			t.Fatalf("entry %d: %s version %d, want %s version %d (newest first)", i, e.ID, e.Version, want, n-i)
		}
	}
	_, err := s.ListAudit(ctx, "not-a-cursor!", 3)
	wantKind(t, err, credbatch.KindInvalid, "list with a bad cursor")
}

func testAuditRecorded(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	at := time.Date(2026, 12, 4, 13, 0, 0, 0, time.UTC)
	e := credbatch.AuditEntry{ID: "ev1", At: at, Actor: "admin@example.com", Action: credbatch.AuditEvidenceRemoved,
		Target: "credential/c1", Changes: []credbatch.Change{{Field: "evidence/1", Old: "sha384-x", New: ""}}}
	must(t, s.RecordAudit(ctx, e), "record")
	wantKind(t, s.RecordAudit(ctx, e), credbatch.KindConflict, "record the same id again")
	wantKind(t, s.RecordAudit(ctx, credbatch.AuditEntry{ID: "ev2", Action: credbatch.AuditEvidenceRemoved}), credbatch.KindInvalid, "record without a time")
	got, err := s.ListAudit(ctx, "", 0)
	must(t, err, "list audit")
	if len(got.Items) != 1 {
		t.Fatalf("audit: %d entries, want 1", len(got.Items))
	}
	g := got.Items[0]
	g.At = utc(g.At)
	diff(t, "recorded entry", g, e)
}
