package credbatch

import "strings"

// StatusWords says a batch's status in words for people. A rejected batch is "needs fixing"
// when it has rows to fix, "changes requested" when an approver sent it back with every row
// valid, and "rejected" only for a file that was not accepted at all (no rows stored).
func StatusWords(b Batch) string {
	if b.Status == BatchRejected {
		switch {
		case b.Counts.Invalid > 0:
			return "needs fixing"
		case b.Counts.Rows > 0:
			return "changes requested"
		}
		return "rejected"
	}
	return strings.ReplaceAll(string(b.Status), "_", " ")
}
