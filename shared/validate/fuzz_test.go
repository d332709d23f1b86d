package validate

import (
	"testing"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// FuzzRow feeds arbitrary cell values through every parser: nothing may panic, and a valid
// row's dates must be YYYY-MM-DD.
func FuzzRow(f *testing.F) {
	for _, s := range []string{"2025-03-04", "03/04/2025", "4 March 2025", "45420.5", "P2Y6M", "1 year 6 months",
		"1,234.5", "84.99999999999999", "a@b.co", "https://x.y", "Tuesday, 4th of March 2025 10:00 AM", "1e5", "-"} {
		f.Add(s, s)
	}
	header := []string{"First Name", "Last Name", "Email", "Issue Date", "Expiry", "Score", "Level", "Completed", "Website", "Mentor", "Notes"}
	f.Fuzz(func(t *testing.T, a, b string) {
		v, err := New(Config{Definitions: testDefs(), Options: credbatch.Options{DefinitionID: "course"}, Today: "2025-03-04"}, header, 1)
		if err != nil {
			t.Fatal(err)
		}
		r := v.Row(2, []string{"A", "B", "a@example.com", a, b, a, b, b, a, b, a})
		if r.Status == credbatch.RowValid {
			if _, ok := parseISODate(r.IssueDate); !ok {
				t.Errorf("issue date %q", r.IssueDate)
			}
			if _, ok := parseISODate(r.ExpiryDate); r.ExpiryDate != "" && !ok {
				t.Errorf("expiry date %q", r.ExpiryDate)
			}
		}
		v.Finish()
		v.Revalidate(r)
	})
}
