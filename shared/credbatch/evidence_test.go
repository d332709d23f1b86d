package credbatch

import (
	"strings"
	"testing"
)

// TestEvidencePolicyNeedsAdmin: the evidence setting follows the admin-only rule of the other
// policy fields, and an admin's change is audited field by field.
func TestEvidencePolicyNeedsAdmin(t *testing.T) {
	base := Definition{ID: "site", Name: "Site Induction", ApprovalRequired: true, FourEyes: true}
	base.Normalize()
	with := func(e EvidenceSettings) Definition { d := base; d.Evidence = e; return d }
	tests := []struct {
		name      string
		old       *Definition
		next      Definition
		admin     bool
		wantErr   string
		wantField []string
	}{
		{"issuer creates with the default", nil, base, false, "", []string{"approval_required", "four_eyes", "duplicates", "evidence.policy", "evidence.media_types", "evidence.max_bytes"}},
		{"issuer creates with evidence", nil, with(EvidenceSettings{Policy: EvidenceOptional}), false, "evidence.policy must be none", nil},
		{"issuer turns evidence on", &base, with(EvidenceSettings{Policy: EvidenceRequired}), false, "evidence.policy (none → required)", nil},
		{"issuer raises the size limit", &base, with(EvidenceSettings{MaxBytes: 50 << 20}), false, "evidence.max_bytes (10485760 → 52428800)", nil},
		{"issuer adds a type", &base, with(EvidenceSettings{MediaTypes: []string{"image/png", "image/gif"}}), false, "evidence.media_types", nil},
		{"defaults spelled out are no change", &base, with(EvidenceSettings{Policy: EvidenceNone, MediaTypes: []string{"image/png", "image/jpeg", "application/pdf"}, MaxBytes: 10 << 20}), false, "", nil},
		{"admin turns evidence on", &base, with(EvidenceSettings{Policy: EvidenceRequired, MaxBytes: 1 << 20}), true, "", []string{"evidence.policy", "evidence.max_bytes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := PolicyAudit(tc.old, tc.next, "kim@example.com", tc.admin)
			if tc.wantErr != "" {
				if err == nil || !IsKind(err, KindForbidden) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want forbidden mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			if e != nil {
				for _, c := range e.Changes {
					got = append(got, c.Field)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.wantField, ",") {
				t.Errorf("changed fields = %v, want %v", got, tc.wantField)
			}
		})
	}
}

func TestEvidenceSettingsValidate(t *testing.T) {
	tests := []struct {
		e    EvidenceSettings
		want string
	}{
		{EvidenceSettings{}, ""},
		{EvidenceSettings{Policy: EvidenceRequired, MediaTypes: []string{"image/webp"}, MaxBytes: 1}, ""},
		{EvidenceSettings{Policy: "sometimes"}, "evidence.policy"},
		{EvidenceSettings{MediaTypes: []string{"text/html"}}, "evidence.media_types \"text/html\""},
		{EvidenceSettings{MediaTypes: []string{"image/png", "image/png"}}, "listed twice"},
		{EvidenceSettings{MaxBytes: MaxEvidenceMaxBytes + 1}, "evidence.max_bytes"},
		{EvidenceSettings{MaxBytes: -1}, "evidence.max_bytes"},
	}
	for _, tc := range tests {
		d := Definition{ID: "site", Name: "Site", Evidence: tc.e}
		d.Normalize()
		err := d.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: err = %v, want %q", tc.e, err, tc.want)
		}
	}
}

func TestEvidenceKey(t *testing.T) {
	digest := "sha384-" + strings.Repeat("A", 64)
	k, err := EvidenceKey("b_123", 7, digest, "image/jpeg")
	if err != nil || k != "evidence/b_123/7-00000000000000000000000000000000.jpg" || CheckKey(k) != nil {
		t.Fatalf("key = %q, %v", k, err)
	}
	for _, bad := range [][2]string{{"sha256-" + strings.Repeat("A", 44), "image/png"}, {digest, "text/html"}, {"sha384-!!", "image/png"}} {
		if _, err := EvidenceKey("b", 1, bad[0], bad[1]); !IsKind(err, KindInvalid) {
			t.Errorf("EvidenceKey(%q, %q) = %v, want invalid", bad[0], bad[1], err)
		}
	}
}
