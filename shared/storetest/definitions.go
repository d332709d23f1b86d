package storetest

import (
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
)

var definitionTests = []namedTest{
	{"PutAndGetVersions", testDefinitionVersions},
	{"OptimisticConflict", testDefinitionConflict},
	{"GetMissing", testDefinitionMissing},
	{"ListLatestAndArchived", testDefinitionList},
}

func newDefinition(id string) credbatch.Definition {
	lo, hi := 0.0, 100.0
	return credbatch.Definition{
		ID:          id,
		Name:        "Course " + id + " — Zoë",
		Description: "A course. " + longValue(),
		Criteria:    "Attended every session",
		Image:       "https://example.com/badge.png",
		Attributes: []credbatch.Attribute{
			{Name: "Score", Type: credbatch.AttrNumber, Required: true, Min: &lo, Max: &hi},
			{Name: "Level", Type: credbatch.AttrChoice, Choices: []string{"Basic", "Advanced"}},
			{Name: "Notes", Type: credbatch.AttrText, MaxLength: 200, Description: "free text"},
		},
		Expiry:           credbatch.Expiry{Policy: credbatch.ExpiryOptional, Default: "P2Y"},
		ApprovalRequired: true,
		FourEyes:         true,
		Duplicates:       credbatch.DuplicatesReplace,
		Email:            credbatch.EmailTemplates{Subject: "Your {{.Name}}", Text: "Hi", HTML: "<p>Hi</p>"},
		Issuer:           &credbatch.Issuer{Name: "Acme", URL: "https://acme.example", Email: "certs@acme.example"},
	}
}

func testDefinitionVersions(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	d := newDefinition("course")
	v1, err := s.PutDefinition(ctx, d)
	must(t, err, "put v1")
	if v1.Version != 1 || v1.CreatedAt.IsZero() {
		t.Fatalf("put v1: got version %d created %v, want version 1 and a creation time", v1.Version, v1.CreatedAt)
	}
	d.Name = "Course v2"
	v2, err := s.PutDefinition(ctx, d) // Version 0: unconditional new version
	must(t, err, "put v2")
	if v2.Version != 2 {
		t.Fatalf("put v2: got version %d, want 2", v2.Version)
	}
	d.Version = 2
	d.Name = "Course v3"
	v3, err := s.PutDefinition(ctx, d) // optimistic: latest is 2
	must(t, err, "put v3")
	if v3.Version != 3 {
		t.Fatalf("put v3: got version %d, want 3", v3.Version)
	}

	tests := []struct {
		version  int
		wantName string
		wantVer  int
	}{
		{0, "Course v3", 3},
		{1, "Course course — Zoë", 1},
		{2, "Course v2", 2},
		{3, "Course v3", 3},
	}
	for _, tc := range tests {
		got, err := s.GetDefinition(ctx, "course", tc.version)
		must(t, err, "get definition")
		if got.Version != tc.wantVer || got.Name != tc.wantName {
			t.Fatalf("get version %d: got version %d name %q, want %d %q", tc.version, got.Version, got.Name, tc.wantVer, tc.wantName)
		}
	}
	got, err := s.GetDefinition(ctx, "course", 1)
	must(t, err, "get v1")
	want := newDefinition("course")
	want.Version = 1
	diff(t, "definition v1 round trip", normDefinition(got), normDefinition(want))
}

func testDefinitionConflict(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	d := newDefinition("badge")
	_, err := s.PutDefinition(ctx, d)
	must(t, err, "put v1")
	_, err = s.PutDefinition(ctx, d)
	must(t, err, "put v2")

	tests := []struct {
		name    string
		id      string
		version int
	}{
		{"stale version", "badge", 1},
		{"future version", "badge", 3},
		{"version of a new id", "fresh", 1},
	}
	for _, tc := range tests {
		d := newDefinition(tc.id)
		d.Version = tc.version
		_, err := s.PutDefinition(ctx, d)
		wantKind(t, err, credbatch.KindConflict, tc.name)
	}
	got, err := s.GetDefinition(ctx, "badge", 0)
	must(t, err, "get latest")
	if got.Version != 2 {
		t.Fatalf("after conflicts: latest version %d, want 2", got.Version)
	}
	_, err = s.GetDefinition(ctx, "fresh", 0)
	wantKind(t, err, credbatch.KindNotFound, "conflicting put must not create the definition")
}

func testDefinitionMissing(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	_, err := s.PutDefinition(ctx, newDefinition("course"))
	must(t, err, "put")
	tests := []struct {
		id      string
		version int
	}{
		{"nope", 0},
		{"nope", 1},
		{"course", 2},
	}
	for _, tc := range tests {
		_, err := s.GetDefinition(ctx, tc.id, tc.version)
		wantKind(t, err, credbatch.KindNotFound, "get "+tc.id)
	}
}

func testDefinitionList(t *testing.T, s credbatch.Store, _ Capabilities) {
	ctx := t.Context()
	for _, id := range []string{"zeta", "alpha", "mid"} {
		_, err := s.PutDefinition(ctx, newDefinition(id))
		must(t, err, "put "+id)
	}
	d := newDefinition("alpha")
	d.Name = "Alpha latest"
	_, err := s.PutDefinition(ctx, d)
	must(t, err, "put alpha v2")
	d = newDefinition("mid")
	d.Archived = true
	_, err = s.PutDefinition(ctx, d) // archived in its latest version
	must(t, err, "archive mid")
	d = newDefinition("zeta")
	d.Archived = true
	_, err = s.PutDefinition(ctx, d)
	must(t, err, "archive zeta")
	d.Archived = false
	_, err = s.PutDefinition(ctx, d) // un-archived again
	must(t, err, "unarchive zeta")

	type item struct {
		ID      string
		Version int
		Name    string
	}
	summary := func(ds []credbatch.Definition) []item {
		out := []item{}
		for _, d := range ds {
			out = append(out, item{d.ID, d.Version, d.Name})
		}
		return out
	}
	tests := []struct {
		archived bool
		want     []item
	}{
		{false, []item{{"alpha", 2, "Alpha latest"}, {"zeta", 3, "Course zeta — Zoë"}}},
		{true, []item{{"alpha", 2, "Alpha latest"}, {"mid", 2, "Course mid — Zoë"}, {"zeta", 3, "Course zeta — Zoë"}}},
	}
	for _, tc := range tests {
		got, err := s.ListDefinitions(ctx, tc.archived)
		must(t, err, "list")
		diff(t, "list definitions", summary(got), tc.want)
	}
}
