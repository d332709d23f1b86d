package credbatch

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode"
)

// MaxLabelLength is the longest batch label accepted, in characters.
const MaxLabelLength = 200

// CheckLabel refuses a batch label that would break where labels go: email subjects (a CR
// or LF there makes the message unsendable), logs and lists. KindInvalid, code
// invalid_label, naming what is wrong.
func CheckLabel(label string) error {
	if i := strings.IndexFunc(label, unicode.IsControl); i >= 0 {
		what := fmt.Sprintf("a control character (%U)", []rune(label[i:])[0])
		switch label[i] {
		case '\r', '\n':
			what = "a line break"
		case '\t':
			what = "a tab"
		}
		return E(KindInvalid, "invalid_label", fmt.Sprintf("the batch label contains %s; write it on one line (it is used in email subjects)", what))
	}
	if n := len([]rune(label)); n > MaxLabelLength {
		return E(KindInvalid, "invalid_label", fmt.Sprintf("the batch label has %d characters; use at most %d", n, MaxLabelLength))
	}
	return nil
}

// WebURLProblem is the one check of a link that credbatch puts into credentials and pages
// (issuer.url, images): "" for an absolute https: URL, or http: to a loopback host (a local
// stack); otherwise what is wrong ("uses the javascript: scheme"). With images true, a
// data:image/... URL is accepted too.
func WebURLProblem(raw string, images bool) string {
	u, err := url.Parse(raw)
	if err != nil || strings.IndexFunc(raw, unicode.IsSpace) >= 0 {
		return "is not a valid URL"
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case scheme == "https":
	case scheme == "http":
		if !loopback(u.Hostname()) {
			return "uses http:, which is allowed only for localhost; use https:"
		}
	case scheme == "data" && images && strings.HasPrefix(strings.ToLower(u.Opaque), "image/"):
		return ""
	case scheme == "":
		return "is not absolute; give the whole address, starting with https://"
	default:
		return fmt.Sprintf("uses the %s: scheme; use an https:// address", scheme)
	}
	if u.Host == "" || u.User != nil {
		return "has no host, or carries a user name; give an address like https://example.org/"
	}
	return ""
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
