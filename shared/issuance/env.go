package issuance

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/validate"
)

// ConfigFromEnv reads the flow's settings from environment variables (getenv is os.Getenv
// in the functions). The README lists them.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Issuer: credential.Issuer{BaseURL: getenv("PUBLIC_BASE_URL"), Name: getenv("ISSUER_NAME"),
			URL: getenv("ISSUER_URL"), Email: getenv("ISSUER_EMAIL"), Image: getenv("ISSUER_IMAGE"),
			URLID: getenv("ISSUER_ID") == "url"},
		From:      getenv("MAIL_FROM"),
		Approvers: List(getenv("APPROVER_EMAILS")),
		Admins:    List(getenv("ADMIN_EMAILS")),
	}
	var errs []string
	num := func(name string, set func(float64)) {
		v := getenv(name)
		if v == "" {
			return
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			errs = append(errs, fmt.Sprintf("%s=%q: want a non-negative number", name, v))
			return
		}
		set(f)
	}
	num("APPROVAL_TIMEOUT_SECONDS", func(f float64) { c.ApprovalTimeout = time.Duration(f) * time.Second })
	num("SEND_RATE", func(f float64) { c.SendRate = f })
	num("ISSUE_MAX_CONCURRENCY", func(f float64) { c.MaxConcurrency = int(f) })
	num("CHUNK_SECONDS", func(f float64) { c.ChunkSeconds = int(f) })
	num("CHUNK_SIZE", func(f float64) { c.ChunkSize = int(f) })
	num("BOUNCE_PAUSE_RATE", func(f float64) { c.BounceRate = f })
	num("BOUNCE_PAUSE_MIN_SENDS", func(f float64) { c.BounceMinSends = int(f) })
	if u := c.Issuer.URL; u != "" {
		if p := credbatch.WebURLProblem(u, false); p != "" {
			errs = append(errs, fmt.Sprintf("ISSUER_URL=%q %s", u, p))
		}
	}
	if e := c.Issuer.Email; e != "" {
		if p := validate.EmailProblem(e); p != "" {
			errs = append(errs, fmt.Sprintf("ISSUER_EMAIL=%q %s", e, p))
		}
	}
	if c.Issuer.BaseURL == "" {
		errs = append(errs, "PUBLIC_BASE_URL must be set (the public URL of the API, used in credential ids and links)")
	} else if _, err := c.Issuer.DID(); err != nil {
		errs = append(errs, "PUBLIC_BASE_URL="+c.Issuer.BaseURL+": "+credbatch.ErrorMessage(err))
	}
	if v := getenv("ISSUER_ID"); v != "" && v != "url" && v != "did:web" {
		errs = append(errs, fmt.Sprintf("ISSUER_ID=%q: want did:web (the default) or url", v))
	}
	if c.From == "" {
		errs = append(errs, "MAIL_FROM must be set (a verified SES sender)")
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// List splits a comma- or space-separated list, dropping empty items.
func List(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == ';' })
}
