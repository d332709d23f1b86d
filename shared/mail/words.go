package mail

import (
	"net/mail"
	"strconv"
	"strings"
)

// Count says a number of things in words with the right plural: Count(1, "recipient",
// "recipients") is "1 recipient", Count(0, …) "0 recipients". Never "recipient(s)".
func Count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// From is the From header of a message: the configured address with a display name. An
// address that already carries a display name ("Academy <noreply@example.org>") keeps it; an
// empty name gives the bare address. Validate encodes a non-ASCII name (RFC 2047).
func From(name, address string) string {
	address = strings.TrimSpace(address)
	a, err := mail.ParseAddress(address)
	if err != nil || a.Name != "" || strings.TrimSpace(name) == "" {
		return address
	}
	return (&mail.Address{Name: FoldSubject(name), Address: a.Address}).String()
}
