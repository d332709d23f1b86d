package ingest_test

import (
	"context"
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/workbook"
)

// fakeOriginals is a Corrector over fixed credentials and rows.
type fakeOriginals map[string]credbatch.Credential

func (f fakeOriginals) Original(_ context.Context, id string) (credbatch.Credential, credbatch.Row, error) {
	c, ok := f[id]
	if !ok {
		return c, credbatch.Row{}, credbatch.Errorf(credbatch.KindNotFound, "credential %s", id)
	}
	return c, credbatch.Row{BatchID: c.BatchID, Number: c.RowNumber, FirstName: "Ada", LastName: "Lovelace"}, nil
}

// TestCorrections: the rows of a failed-recipients workbook with a Corrected email become
// rows of the original recipients at the corrected addresses; the others are left out; a
// problem names the workbook's row and column with its code.
func TestCorrections(t *testing.T) {
	originals := fakeOriginals{
		"c1": {ID: "c1", BatchID: "b0", RowNumber: 7, DefinitionID: "web-101", Email: "ada@bad.example", Name: "Ada Lovelace",
			IssueDate: "2026-05-01", Status: credbatch.CredentialIssued, Attributes: map[string]string{"Score": "91", "Level": "Gold"}},
		"c2": {ID: "c2", BatchID: "b0", RowNumber: 8, DefinitionID: "web-101", Email: "bob@bad.example", Status: credbatch.CredentialRevoked},
		"c3": {ID: "c3", BatchID: "b0", RowNumber: 9, DefinitionID: "first-aid", Email: "cy@bad.example", Name: "Cy Oh",
			IssueDate: "2026-05-01", ExpiryDate: "2029-05-01", Status: credbatch.CredentialIssued, Attributes: map[string]string{"Trainer": "Kim"}},
	}
	header := []any{"Batch", "Row", "Email", workbook.CorrectedEmailHeader, "Reason", workbook.CredentialIDHeader}
	data := xlsxFile(t, [][]any{header,
		{"b0", 7, "ada@bad.example", "Ada@Good.example", "Bounced", "c1"},  // row 2: corrected
		{"b0", 8, "bob@bad.example", "bob@good.example", "Bounced", "c2"},  // row 3: revoked
		{"b0", 9, "cy@bad.example", "", "Bounced", "c3"},                   // row 4: no correction, left out
		{"b0", 10, "dee@bad.example", "dee@good.example", "Bounced", "c9"}, // row 5: unknown credential
		{"b0", 7, "ada@bad.example", "ada2@good.example", "Bounced", "c1"}, // row 6: c1 again
		{"b0", 9, "cy@bad.example", "not an address", "Bounced", "c3"},     // row 7: invalid address
		{"b0", 9, "cy@bad.example", "CY@bad.example", "Bounced", "c3"},     // row 8: c3 again (duplicate first)
	})
	var got []credbatch.Row
	sink := func(_ context.Context, rows []credbatch.Row) error {
		got = append(got, rows...)
		return nil
	}
	res, _, err := ingest.Run(context.Background(), ingest.Input{Path: writeFile(t, "failed.xlsx", data), Name: "failed.xlsx",
		Definitions: testDefinitions(t), Today: "2026-12-03", Corrections: originals}, sink)
	if err != nil || res.Error != nil {
		t.Fatalf("run: %+v, %v", res.Error, err)
	}
	type want struct {
		number       int
		status       credbatch.RowStatus
		code, column string
	}
	wants := []want{
		{2, credbatch.RowValid, "", ""},
		{3, credbatch.RowInvalid, ingest.CodeUnknownCredential, workbook.CredentialIDHeader},
		{5, credbatch.RowInvalid, ingest.CodeUnknownCredential, workbook.CredentialIDHeader},
		{6, credbatch.RowInvalid, credbatch.CodeDuplicateRow, workbook.CredentialIDHeader},
		{7, credbatch.RowInvalid, credbatch.CodeInvalidEmail, workbook.CorrectedEmailHeader},
		{8, credbatch.RowInvalid, credbatch.CodeDuplicateRow, workbook.CredentialIDHeader},
	}
	if len(got) != len(wants) {
		t.Fatalf("%d rows; want %d (row 4 has no correction): %+v", len(got), len(wants), got)
	}
	for i, w := range wants {
		r := got[i]
		if r.Number != w.number || r.Status != w.status {
			t.Errorf("row %d: number %d status %s %+v; want %d %s", i, r.Number, r.Status, r.Findings, w.number, w.status)
			continue
		}
		if w.code == "" {
			if len(r.Findings) != 0 {
				t.Errorf("row %d: findings %+v; want none", r.Number, r.Findings)
			}
			continue
		}
		if len(r.Findings) == 0 || r.Findings[0].Code != w.code || r.Findings[0].Column != w.column || r.Findings[0].Row != w.number {
			t.Errorf("row %d: findings %+v; want %s in %q", r.Number, r.Findings, w.code, w.column)
		}
	}
	ok := got[0]
	if ok.Email != "ada@good.example" || ok.FirstName != "Ada" || ok.LastName != "Lovelace" || ok.DefinitionID != "web-101" ||
		ok.IssueDate != "2026-05-01" || ok.Attributes["Score"] != "91" || ok.Attributes["Level"] != "Gold" {
		t.Errorf("corrected row %+v; want the original recipient at the corrected address", ok)
	}
}

// TestCorrectionsRefused: without a store (the CLI) a failed-recipients workbook is refused,
// and one without any correction is an empty file.
func TestCorrectionsRefused(t *testing.T) {
	header := []any{"Email", workbook.CorrectedEmailHeader, workbook.CredentialIDHeader}
	tests := []struct {
		name      string
		rows      [][]any
		corrector ingest.Corrector
		wantCode  string
	}{
		{"no store", [][]any{header, {"a@bad.example", "a@good.example", "c1"}}, nil, credbatch.CodeUnsupportedFormat},
		{"no correction", [][]any{header, {"a@bad.example", "", "c1"}}, fakeOriginals{}, credbatch.CodeEmptyFile},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, _, err := ingest.Run(context.Background(), ingest.Input{Path: writeFile(t, "f.xlsx", xlsxFile(t, tc.rows)), Name: "f.xlsx",
				Definitions: testDefinitions(t), Today: "2026-12-03", Corrections: tc.corrector}, nil)
			if err != nil || res.Error == nil || res.Error.Code != tc.wantCode {
				t.Errorf("run: %+v, %v; want %s", res.Error, err, tc.wantCode)
			}
		})
	}
}

// TestRecipientsLocale: JSON recipients may name their email's language; the rows carry it,
// and an unsupported one is invalid_choice on that row.
func TestRecipientsLocale(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e env) {
		svc := setup(t, e)
		b, _, err := svc.CreateBatch(context.Background(), ingest.NewBatch{Uploader: "api@example.org", DefinitionID: "first-aid",
			Recipients: []ingest.Recipient{
				{FirstName: "Ana", LastName: "Lopez", Email: "ana@example.org", Locale: "es", Attributes: map[string]string{"Trainer": "Kim"}},
				{FirstName: "Bo", LastName: "Ng", Email: "bo@example.org", Attributes: map[string]string{"Trainer": "Kim"}},
				{FirstName: "Cy", LastName: "Oh", Email: "cy@example.org", Locale: "klingon", Attributes: map[string]string{"Trainer": "Kim"}},
			}})
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			locale string
			status credbatch.RowStatus
		}{{"es", credbatch.RowValid}, {"", credbatch.RowValid}, {"", credbatch.RowInvalid}}
		for i, w := range want {
			r, err := e.store.GetRow(context.Background(), b.ID, i+2)
			if err != nil {
				t.Fatal(err)
			}
			if r.Locale != w.locale || r.Status != w.status {
				t.Errorf("row %d: locale %q status %s %+v; want %q %s", i+2, r.Locale, r.Status, r.Findings, w.locale, w.status)
			}
		}
	})
}
