package issuance

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// maxMissingListed is how many rows without evidence a refused submission lists.
const maxMissingListed = 1000

// RequireEvidence refuses a batch with a row of a definition whose evidence is required
// that has no stored evidence file and no evidence URL ("make media optional" is the
// optional policy: a required one is submitted only when every row has its evidence, also
// with skip_invalid). The error is KindConflict with code missing_evidence, its message
// names the rows and the fix, and its details are one missing_evidence finding per row. A
// batch of definitions that do not require evidence is not read.
func RequireEvidence(ctx context.Context, st credbatch.Store, b credbatch.Batch) error {
	required := map[string]bool{}
	for id, ver := range b.Definitions {
		d, err := st.GetDefinition(ctx, id, ver)
		if err != nil {
			return fmt.Errorf("load definition %s v%d: %w", id, ver, err)
		}
		if d.Evidence.EffectivePolicy() == credbatch.EvidenceRequired {
			required[id] = true
		}
	}
	if len(required) == 0 {
		return nil
	}
	var missing []credbatch.Finding
	total := 0
	cursor := ""
	for {
		p, err := st.ListRows(ctx, b.ID, credbatch.RowFilter{Cursor: cursor, Limit: 1000})
		if err != nil {
			return fmt.Errorf("list rows of %s: %w", b.ID, err)
		}
		for _, r := range p.Items {
			def := r.DefinitionID
			if def == "" {
				def = b.Options.DefinitionID
			}
			if !required[def] || r.Evidence.HasEvidence() {
				continue
			}
			total++
			if len(missing) < maxMissingListed {
				missing = append(missing, credbatch.Finding{Row: r.Number, Column: "Evidence File", Code: credbatch.CodeMissingEvidence,
					Severity: credbatch.SeverityError, Message: fmt.Sprintf(
						"row %d has no evidence, and %s credentials need it: attach its file (PUT /api/batches/%s/rows/%d/evidence, or the batch page) or give an Evidence URL",
						r.Number, def, b.ID, r.Number)})
			}
		}
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if total == 0 {
		return nil
	}
	rows := make([]string, 0, 20)
	for _, f := range missing[:min(len(missing), 20)] {
		rows = append(rows, strconv.Itoa(f.Row))
	}
	list := strings.Join(rows, ", ")
	if total > len(rows) {
		list += fmt.Sprintf(" and %d more", total-len(rows))
	}
	return &credbatch.Error{Kind: credbatch.KindConflict, Code: credbatch.CodeMissingEvidence, Details: missing, Message: fmt.Sprintf(
		"batch %s cannot be submitted: %d %s no evidence, which %s credentials require (%s %s); attach each row's file or give an Evidence URL, then submit again",
		b.ID, total, plural(total, "row has", "rows have"), strings.Join(slices.Sorted(maps.Keys(required)), " and "), plural(total, "row", "rows"), list)}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
