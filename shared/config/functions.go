package config

import (
	"strings"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/keys"
	"github.com/credbatch/credbatch/shared/mail"
	"github.com/credbatch/credbatch/shared/sheet"
)

// Mail is how a function sends email.
type Mail struct {
	From             string // MAIL_FROM: the verified SES sender of every email
	FromName         string // ISSUER_NAME: the display name of From (credential emails show their definition's issuer)
	ConfigurationSet string // SES_CONFIGURATION_SET: named by every send (its events reach feedback)
	Locale           string // MAIL_LOCALE: language of credential emails when neither the row nor the definition names one
}

// Sender is the From of notifications: the address with its display name.
func (m Mail) Sender() string { return mail.From(m.FromName, m.From) }

func (e *Env) mail() Mail {
	return Mail{From: e.Email("MAIL_FROM", true, "a verified SES sender"), FromName: e.String("ISSUER_NAME"),
		ConfigurationSet: e.String("SES_CONFIGURATION_SET"), Locale: e.OneOf("MAIL_LOCALE", "en", credbatch.Locales...)}
}

// baseURL reads PUBLIC_BASE_URL: required, without a trailing slash, and able to give the
// deployment's did:web.
func (e *Env) baseURL() string {
	v := strings.TrimRight(e.Required("PUBLIC_BASE_URL", "the public URL of the API, used in credential ids and links"), "/")
	if v != "" {
		if p := credbatch.WebURLProblem(v, false); p != "" {
			e.errorf("PUBLIC_BASE_URL", v, p)
		} else if _, err := keys.DIDWeb(v); err != nil {
			e.errorf("PUBLIC_BASE_URL", v, "gives no did:web: "+err.Error())
		}
	}
	return v
}

// issuer reads the issuer profile on credentials: the same variables, parsed the same way,
// wherever credentials are built or shown (api, issue, the local stack).
func (e *Env) issuer(base string) credential.Issuer {
	return credential.Issuer{
		BaseURL: base,
		Name:    e.String("ISSUER_NAME"),
		URL:     e.URL("ISSUER_URL", false),
		Email:   e.Email("ISSUER_EMAIL", false, ""),
		Image:   e.URL("ISSUER_IMAGE", true),
		URLID:   e.OneOf("ISSUER_ID", "did:web", "did:web", "url") == "url",
	}
}

func (e *Env) table() string { return e.Required("TABLE_NAME", "the DynamoDB table") }

func (e *Env) approvalTimeout() time.Duration {
	return e.Seconds("APPROVAL_TIMEOUT_SECONDS", 7*24*time.Hour, 60)
}

func (e *Env) maxRows() int {
	return e.Int("MAX_ROWS_PER_FILE", sheet.DefaultLimits().MaxRows, 1, 1<<31)
}

func (e *Env) admins() []string { return e.Emails("ADMIN_EMAILS") }

// Ingest configures functions/ingest.
type Ingest struct {
	Table, Bucket, StateMachine string
	BaseURL                     string // links in the rejected-file email
	Mail                        Mail
	Admins                      []string // copied on rejected-file emails
	MaxRows                     int
}

// LoadIngest reads the ingest function's configuration.
func LoadIngest(e *Env) (Ingest, error) {
	c := Ingest{Table: e.table(), Bucket: e.Required("BUCKET_NAME", "the uploads bucket"),
		StateMachine: e.Required("STATE_MACHINE_ARN", "the issuance state machine"), BaseURL: e.baseURL(),
		Mail: e.mail(), Admins: e.admins(), MaxRows: e.maxRows()}
	return c, e.Err()
}

// API configures functions/api.
type API struct {
	Table, Bucket, StateMachine string
	KeysSecret                  string // KEYS_SECRET_ID: the signing-key secret
	Issuer                      credential.Issuer
	Mail                        Mail
	RolesClaim                  string // ROLES_CLAIM: the token claim with the caller's roles
	AuthIssuer, AuthAudience    string // the OIDC provider whose tokens the pages verify
	ApprovalTimeout             time.Duration
	MaxRows                     int
	Admins                      []string // told of decisions on batches uploaded without an address (API keys)
}

// LoadAPI reads the api function's configuration.
func LoadAPI(e *Env) (API, error) {
	base := e.baseURL()
	c := API{Table: e.table(), Bucket: e.Required("BUCKET_NAME", "the uploads bucket"),
		StateMachine: e.Required("STATE_MACHINE_ARN", "the issuance state machine"),
		KeysSecret:   e.Required("KEYS_SECRET_ID", "the Secrets Manager secret of the signing keys"),
		Issuer:       e.issuer(base), Mail: e.mail(),
		RolesClaim: e.String("ROLES_CLAIM"), AuthIssuer: e.URL("AUTH_ISSUER", false), AuthAudience: e.String("AUTH_AUDIENCE"),
		ApprovalTimeout: e.approvalTimeout(), MaxRows: e.maxRows(), Admins: e.admins()}
	if c.RolesClaim == "" {
		c.RolesClaim = "cognito:groups"
	}
	return c, e.Err()
}

// Public configures functions/public: the unauthenticated routes (credential pages and
// documents, evidence, verify, the keys, the DID document, the status lists). It reads the
// published public keys from the table and has no signing-key secret.
type Public struct {
	Table, Bucket            string
	Issuer                   credential.Issuer
	RolesClaim               string // ROLES_CLAIM: the token claim with the caller's roles (staff see revoked evidence)
	AuthIssuer, AuthAudience string // the OIDC provider whose tokens the evidence route accepts from staff
}

// LoadPublic reads the public function's configuration.
func LoadPublic(e *Env) (Public, error) {
	c := Public{Table: e.table(), Bucket: e.Required("BUCKET_NAME", "the bucket of the published keys and the evidence"),
		Issuer: e.issuer(e.baseURL()), RolesClaim: e.String("ROLES_CLAIM"), AuthIssuer: e.URL("AUTH_ISSUER", false),
		AuthAudience: e.String("AUTH_AUDIENCE")}
	if c.RolesClaim == "" {
		c.RolesClaim = "cognito:groups"
	}
	return c, e.Err()
}

// Limits are the sheet limits with MaxRows applied.
func (c API) Limits() sheet.Limits { return limits(c.MaxRows) }

// Limits are the sheet limits with MaxRows applied.
func (c Ingest) Limits() sheet.Limits { return limits(c.MaxRows) }

func limits(maxRows int) sheet.Limits {
	l := sheet.DefaultLimits()
	if maxRows > 0 {
		l.MaxRows = maxRows
	}
	return l
}

// Flow configures a function of the issuance flow (workflow, approval, issue): Table, the
// mail settings and the issuance.Config its steps use.
type Flow struct {
	Table      string
	KeysSecret string // issue only
	Mail       Mail
	Flow       issuance.Config
}

// LoadWorkflow reads the workflow function's configuration (prepare, plan, expire, chunk
// failures, finalize, fail).
func LoadWorkflow(e *Env) (Flow, error) {
	c := Flow{Table: e.table(), Mail: e.mail()}
	c.Flow = issuance.Config{Issuer: credential.Issuer{BaseURL: e.baseURL()}, From: c.Mail.From, FromName: c.Mail.FromName,
		Locale: c.Mail.Locale, Admins: e.admins(), ApprovalTimeout: e.approvalTimeout(),
		SendRate:       e.Float("SEND_RATE", 0, 0, 1e6),
		MaxConcurrency: e.Int("ISSUE_MAX_CONCURRENCY", 0, 0, 40),
		ChunkSeconds:   e.Int("CHUNK_SECONDS", 0, 0, 900),
		ChunkSize:      e.Int("CHUNK_SIZE", 0, 0, 1<<31)}
	return c, e.Err()
}

// LoadApproval reads the approval function's configuration.
func LoadApproval(e *Env) (Flow, error) {
	c := Flow{Table: e.table(), Mail: e.mail()}
	c.Flow = issuance.Config{Issuer: credential.Issuer{BaseURL: e.baseURL()}, From: c.Mail.From, FromName: c.Mail.FromName,
		Locale: c.Mail.Locale, Approvers: e.Emails("APPROVER_EMAILS"), Admins: e.admins(), ApprovalTimeout: e.approvalTimeout()}
	return c, e.Err()
}

// LoadIssue reads the issue (chunk worker) function's configuration.
func LoadIssue(e *Env) (Flow, error) {
	c := Flow{Table: e.table(), KeysSecret: e.Required("KEYS_SECRET_ID", "the Secrets Manager secret of the signing keys"), Mail: e.mail()}
	c.Flow = issuance.Config{Issuer: e.issuer(e.baseURL()), From: c.Mail.From, FromName: c.Mail.FromName, Locale: c.Mail.Locale,
		Admins:         e.admins(),
		BounceRate:     e.Float("BOUNCE_PAUSE_RATE", 0, 0, 1),
		BounceMinSends: e.Int("BOUNCE_PAUSE_MIN_SENDS", 0, 0, 1<<31)}
	return c, e.Err()
}

// Feedback configures functions/feedback.
type Feedback struct{ Table string }

// LoadFeedback reads the feedback function's configuration.
func LoadFeedback(e *Env) (Feedback, error) { return Feedback{Table: e.table()}, e.Err() }

// Report configures functions/report.
type Report struct {
	Table     string
	BaseURL   string // links in the report
	Mail      Mail
	Admins    []string       // who gets it
	SendEmpty bool           // REPORT_SEND_EMPTY: send even when nothing happened
	Location  *time.Location // REPORT_TIME_ZONE: the zone the report's period is written in (default UTC)
}

// LoadReport reads the report function's configuration.
func LoadReport(e *Env) (Report, error) {
	c := Report{Table: e.table(), BaseURL: e.baseURL(), Mail: e.mail(), Admins: e.admins(), SendEmpty: e.Bool("REPORT_SEND_EMPTY", false),
		Location: time.UTC}
	if tz := e.String("REPORT_TIME_ZONE"); tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			e.errorf("REPORT_TIME_ZONE", tz, "is not an IANA time zone (e.g. Europe/London)")
		} else {
			c.Location = loc
		}
	}
	return c, e.Err()
}

// Keys configures functions/keys, the deploy-time function behind the stack's SigningKeys
// custom resource: the one role that may write the signing-key secret.
type Keys struct {
	KeysSecret string // KEYS_SECRET_ID: the signing-key secret
	Table      string // TABLE_NAME: where the public keys are published (keys.Publish)
}

// LoadKeys reads the keys function's configuration.
func LoadKeys(e *Env) (Keys, error) {
	return Keys{KeysSecret: e.Required("KEYS_SECRET_ID", "the Secrets Manager secret of the signing keys"),
		Table: e.table()}, e.Err()
}

// Functions maps each functions/<name> directory to its loader, for the tests that compare
// what each function reads with template.yaml and the README. Each main calls its own.
var Functions = map[string]func(*Env) error{
	"api":      func(e *Env) error { _, err := LoadAPI(e); return err },
	"approval": func(e *Env) error { _, err := LoadApproval(e); return err },
	"feedback": func(e *Env) error { _, err := LoadFeedback(e); return err },
	"ingest":   func(e *Env) error { _, err := LoadIngest(e); return err },
	"issue":    func(e *Env) error { _, err := LoadIssue(e); return err },
	"keys":     func(e *Env) error { _, err := LoadKeys(e); return err },
	"public":   func(e *Env) error { _, err := LoadPublic(e); return err },
	"report":   func(e *Env) error { _, err := LoadReport(e); return err },
	"workflow": func(e *Env) error { _, err := LoadWorkflow(e); return err },
}
