package dynamo

import (
	"crypto/rand"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/credbatch/credbatch/shared/credbatch"
)

func randomText(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n*3/4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func TestRowPacking(t *testing.T) {
	tests := []struct {
		name       string
		cells      int
		random     bool
		wantPacked bool
		wantKind   credbatch.Kind // "" = stored
	}{
		{"small row stays plain", 3, true, false, ""},
		{"30 random 4 KB values in cells and attributes fit unpacked", 30, true, false, ""},
		{"45 random 4 KB values (360 KB) are packed to fit", 45, true, true, ""},
		{"60 compressible 4 KB values are packed", 60, false, true, ""},
		{"120 random 4 KB values are refused", 120, true, true, credbatch.KindInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := credbatch.Row{BatchID: "b", Number: 7, Status: credbatch.RowInvalid, Attributes: map[string]string{},
				Findings: []credbatch.Finding{{Row: 7, Column: "Email", Code: credbatch.CodeInvalidEmail, Message: "fix"}}}
			for i := range tc.cells {
				v := strings.Repeat("é", 2048)
				if tc.random {
					v = randomText(t, 4096)
				}
				r.Cells = append(r.Cells, v)
				r.Attributes[string(rune('A'+i%26))+strings.Repeat("x", i/26)] = v
			}
			item, err := rowItem(r)
			if tc.wantKind != "" {
				if got := credbatch.ErrorKind(err); got != tc.wantKind {
					t.Fatalf("kind = %s (%v), want %s", got, err, tc.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatalf("rowItem: %v", err)
			}
			if _, got := item[attrPacked].(*types.AttributeValueMemberB); got != tc.wantPacked {
				t.Errorf("packed = %v, want %v (item %d bytes)", got, tc.wantPacked, itemSize(item))
			}
			if size := itemSize(item); size > maxItemSize {
				t.Errorf("item is %d bytes, over the limit", size)
			}
			got, err := decodeRow(item)
			if err != nil {
				t.Fatalf("decodeRow: %v", err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Errorf("round trip changed the row")
			}
		})
	}
}
