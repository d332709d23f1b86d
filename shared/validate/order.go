package validate

import (
	"slices"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// dateCol is a date column's day/month-order evidence (used when the upload gives no date
// order) and a one-value cache of its last unambiguous cell.
type dateCol struct {
	proved   credbatch.DateOrder // the order the column's values proved so far
	conflict bool                // values proved both orders
	pending  []int32             // rows reported ambiguous before any proof
	assumed  []int32             // rows whose ambiguous value was read with the proved order

	lastRaw string
	last    ymd
	lastOut string
}

func (c *dateCol) prove(o credbatch.DateOrder) {
	switch c.proved {
	case "":
		c.proved = o
	case o:
	default:
		c.conflict = true
	}
}

// Resolution is date-order evidence that arrived after some of a column's values were
// read: the rows listed must be passed to Revalidate.
type Resolution struct {
	Column string              // the header as written
	Order  credbatch.DateOrder // the order the column proved; "" when it proved both
	// Conflict: the column's values prove both orders, so every ambiguous value is an error,
	// including the ones read earlier with the first order (Rows).
	Conflict bool
	Rows     []int // spreadsheet row numbers, ascending
}

// Finish ends the file: it returns, per date column, the rows whose result changes now that
// all the column's values are known. With an order proved (a day above 12 seen) the rows
// reported ambiguous before the proof become valid dates; with both orders proved, the rows
// read with the first order become ambiguous_date errors. Call Revalidate on every listed
// row. Finish records nothing and may be called more than once.
func (v *Validator) Finish() []Resolution {
	var out []Resolution
	for i, c := range v.dates {
		if c == nil {
			continue
		}
		var rows []int32
		switch {
		case c.conflict:
			rows = c.assumed
		case c.proved != "":
			rows = c.pending
		}
		if len(rows) == 0 {
			continue
		}
		res := Resolution{Column: v.columns[i].Header, Order: c.proved, Conflict: c.conflict, Rows: make([]int, len(rows))}
		if c.conflict {
			res.Order = ""
		}
		for j, n := range rows {
			res.Rows[j] = int(n)
		}
		slices.Sort(res.Rows)
		res.Rows = slices.Compact(res.Rows)
		out = append(out, res)
	}
	return out
}

// RowsToRevalidate merges the rows of resolutions: ascending, each once.
func RowsToRevalidate(rs []Resolution) []int {
	var out []int
	for _, r := range rs {
		out = append(out, r.Rows...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
