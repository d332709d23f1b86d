package mail

import "strconv"

// Count says a number of things in words with the right plural: Count(1, "recipient",
// "recipients") is "1 recipient", Count(0, …) "0 recipients". Never "recipient(s)".
func Count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
