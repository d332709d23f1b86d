package storetest

import (
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

var sessionTests = []namedTest{
	{"CreateGetDelete", testSessionLifecycle},
	{"CreateTwiceConflicts", testSessionConflict},
	{"CreateRace", testSessionRace},
}

func newSession(key string) credbatch.Session {
	// Second precision: DynamoDB keeps ExpiresAt as epoch seconds (its time-to-live attribute).
	now := time.Now().UTC().Truncate(time.Second)
	return credbatch.Session{Key: key, Subject: "approver", Email: "approver@example.com",
		Roles: []string{"approver", "issuer"}, CSRF: "csrf-" + key, CreatedAt: now, ExpiresAt: now.Add(12 * time.Hour)}
}

func normSession(s credbatch.Session) credbatch.Session {
	s.CreatedAt, s.ExpiresAt = utc(s.CreatedAt), utc(s.ExpiresAt)
	return s
}

func testSessionLifecycle(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	want := newSession("k1")
	must(t, s.CreateSession(ctx, want), "create session")
	must(t, s.CreateSession(ctx, newSession("k2")), "create another session")
	got, err := s.GetSession(ctx, "k1")
	must(t, err, "get session")
	diff(t, "session", normSession(got), normSession(want))

	must(t, s.DeleteSession(ctx, "k1"), "delete session")
	_, err = s.GetSession(ctx, "k1")
	wantKind(t, err, credbatch.KindNotFound, "get a deleted session")
	must(t, s.DeleteSession(ctx, "k1"), "delete a deleted session")
	_, err = s.GetSession(ctx, "missing")
	wantKind(t, err, credbatch.KindNotFound, "get a missing session")
	if _, err := s.GetSession(ctx, "k2"); err != nil {
		t.Fatalf("the other session is gone after deleting k1: %v", err)
	}
	wantKind(t, s.CreateSession(ctx, credbatch.Session{Key: "k3"}), credbatch.KindInvalid, "create a session without expiry")
}

func testSessionConflict(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	must(t, s.CreateSession(ctx, newSession("k1")), "create session")
	other := newSession("k1")
	other.Subject = "attacker"
	wantKind(t, s.CreateSession(ctx, other), credbatch.KindConflict, "create the same key again")
	got, err := s.GetSession(ctx, "k1")
	must(t, err, "get session")
	if got.Subject != "approver" {
		t.Fatalf("a second create replaced the session: subject %q", got.Subject)
	}
}

func testSessionRace(t *testing.T, s credbatch.Store, c Capabilities) {
	errs := race(c.racers(), func(int) error { return s.CreateSession(t.Context(), newSession("k1")) })
	oneWinner(t, "create session", errs)
}
