package credbatch

import (
	"strings"
	"testing"
)

func TestDefinitionLocale(t *testing.T) {
	tests := []struct {
		locale  string
		wantErr bool
	}{{"", false}, {"fr", false}, {"es", false}, {"FR", true}, {"French", true}, {"it", true}}
	for _, tc := range tests {
		d := Definition{ID: "web", Name: "Web", Expiry: Expiry{Policy: ExpiryNone}, Duplicates: DuplicatesAllow, Locale: tc.locale}
		err := d.Validate()
		if (err != nil) != tc.wantErr || (err != nil && !strings.Contains(err.Error(), "locale")) {
			t.Errorf("locale %q: %v; want error %v", tc.locale, err, tc.wantErr)
		}
	}
}
