// Package stack wires credbatch's local stack: a SQLite store, a folder as the bucket, the
// outbox as the mailer, a key file, and the local engine running the real state machine.
package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/credbatch/credbatch/infra/local/engine"
	"github.com/credbatch/credbatch/infra/statemachine"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/dirblob"
	"github.com/credbatch/credbatch/shared/feedback"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/keys"
	"github.com/credbatch/credbatch/shared/mail"
	"github.com/credbatch/credbatch/shared/outbox"
	"github.com/credbatch/credbatch/shared/report"
	"github.com/credbatch/credbatch/shared/sesim"
	"github.com/credbatch/credbatch/shared/sheet"
	"github.com/credbatch/credbatch/shared/sqlite"
	"github.com/credbatch/credbatch/shared/unsubscribe"
)

// Bucket is the bucket name the local folder stands in for.
const Bucket = "local"

// Local stand-ins for the Lambda ARNs the definition's substitutions name.
const (
	workflowARN = "arn:aws:lambda:local:000000000000:function:credbatch-workflow"
	approvalARN = "arn:aws:lambda:local:000000000000:function:credbatch-approval"
	issueARN    = "arn:aws:lambda:local:000000000000:function:credbatch-issue"
)

// Config configures the local stack.
type Config struct {
	DataDir string            // everything lives here
	Issuer  credential.Issuer // BaseURL is where the local API is served
	From    string            // sender of every email
	Flow    issuance.Config   // approvers, admins, timeouts, send rate, chunk size (Issuer and From are filled in)
	Clock   engine.Clock      // engine clock (default real time); tests pass a virtual one
	Log     *slog.Logger
	// ReportSendEmpty sends the delivery report even when nothing happened.
	ReportSendEmpty bool
	// NoFeedback turns the SES simulator off: no events are made up for sent messages
	// (benchmarks of issuance alone).
	NoFeedback bool
	// WrapIssue, when set, wraps the chunk worker's handler (tests inject failures).
	WrapIssue func(engine.Handler) engine.Handler
	// WrapMailer, when set, wraps the mailer the chunk worker sends credentials with (tests
	// inject mail failures).
	WrapMailer func(credbatch.Mailer) credbatch.Mailer
}

// Stack is a running local stack.
type Stack struct {
	Config   Config
	Store    *sqlite.Store
	Bucket   *dirblob.Store
	Outbox   *outbox.Outbox
	Keys     keys.Set
	Signer   *credential.Signer
	Engine   *engine.Engine
	Flow     *issuance.Service
	Actions  *issuance.Actions
	Ingest   *ingest.Service
	Feedback *feedback.Service
	Relay    *sesim.Relay // the SES mailbox simulator: outbox sends → SES events → Feedback
	Report   *report.Service

	closed bool
}

// Paths inside the data directory.
func (c Config) path(parts ...string) string {
	return filepath.Join(append([]string{c.DataDir}, parts...)...)
}

// OutboxDir is where the outbox writes .eml files.
func (c Config) OutboxDir() string { return c.path("outbox") }

// SESEventsDir is where the simulated SES events wait until they are delivered.
func (c Config) SESEventsDir() string { return c.path("ses-events") }

// StorePath is the SQLite file of the store.
func (c Config) StorePath() string { return c.path("credbatch.db") }

// EnginePath is the SQLite file of the local engine (executions, task tokens, history).
func (c Config) EnginePath() string { return c.path("engine.db") }

// BucketDir is the folder that stands in for the bucket; files dropped under its uploads/
// folder are ingested.
func (c Config) BucketDir() string { return c.path("bucket") }

// Open builds the stack in cfg.DataDir (created if missing) and resumes any execution that
// was running when it last stopped.
func Open(ctx context.Context, cfg Config) (*Stack, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.From == "" {
		cfg.From = "credentials@credbatch.local"
	}
	// The data directory holds the signing keys, the API tokens and every recipient's name
	// and email: the owner's alone (a folder made by an older version is tightened).
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("make the data directory private: %w", err)
	}
	s := &Stack{Config: cfg}
	var err error
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.Store, err = sqlite.Open(ctx, cfg.StorePath()); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	secret, err := bucketSecret(cfg.path("bucket.key"))
	if err != nil {
		return nil, err
	}
	if s.Bucket, err = dirblob.New(cfg.BucketDir(), dirblob.WithBucket(Bucket), dirblob.WithBaseURL(cfg.Issuer.BaseURL+BucketPath),
		dirblob.WithSigning(secret, nil)); err != nil {
		return nil, fmt.Errorf("open bucket folder: %w", err)
	}
	s.Feedback = &feedback.Service{Store: s.Store, Log: cfg.Log}
	// The simulated SES events wait in ses-events/ until delivered, so that a killed
	// process's are delivered by the next one (as SES's survive a crashed Lambda).
	s.Relay = &sesim.Relay{Handle: s.Feedback.Handle, Log: cfg.Log, Dir: cfg.SESEventsDir()}
	onSend := s.Relay.OnSend
	if cfg.NoFeedback {
		onSend = nil
	}
	if s.Outbox, err = outbox.New(cfg.OutboxDir(), outbox.Options{From: cfg.From, OnSend: onSend}); err != nil {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	if !cfg.NoFeedback {
		if _, err := s.Relay.Resume(ctx); err != nil {
			return nil, err
		}
	}
	if s.Keys, err = keys.LoadFile(cfg.path("keys.json")); err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	did, err := cfg.Issuer.DID()
	if err != nil {
		return nil, fmt.Errorf("did:web of %s: %w", cfg.Issuer.BaseURL, err)
	}
	if s.Signer, err = credential.NewSigner(s.Keys, did); err != nil {
		return nil, err
	}
	flow := cfg.Flow
	flow.Issuer = cfg.Issuer
	flow.From = cfg.From
	if flow.SendRate == 0 {
		// The outbox has no sending quota: the chunk workers go as fast as the machine.
		flow.SendRate = 10_000
	}
	if flow.MaxConcurrency == 0 {
		flow.MaxConcurrency = 4
	}
	// Notifications get one-click unsubscribe links (served by site.New at unsubscribe.Path).
	notices := unsubscribe.Wrap(s.Outbox, &unsubscribe.Service{Store: s.Store, BaseURL: cfg.Issuer.BaseURL, Log: cfg.Log})
	mailer := notices
	if cfg.WrapMailer != nil {
		mailer = cfg.WrapMailer(mailer)
	}
	s.Flow = &issuance.Service{Store: s.Store, Mailer: mailer, Blob: s.Bucket, Signer: s.Signer, Config: flow, Log: cfg.Log}
	issue := engine.Typed(s.Flow.IssueChunk)
	if cfg.WrapIssue != nil {
		issue = cfg.WrapIssue(issue)
	}
	handle := engine.Typed(s.Flow.Handle)
	machine, err := engine.Load(statemachine.Issuance, map[string]string{
		statemachine.WorkflowFunctionArn: workflowARN,
		statemachine.ApprovalFunctionArn: approvalARN,
		statemachine.IssueFunctionArn:    issueARN,
	}, map[string]engine.Handler{workflowARN: handle, approvalARN: handle, issueARN: issue})
	if err != nil {
		return nil, fmt.Errorf("load state machine: %w", err)
	}
	clock := cfg.Clock
	if clock == nil {
		clock = engine.RealClock{}
	}
	if s.Engine, err = engine.Open(ctx, cfg.EnginePath(), machine, engine.Options{Clock: clock, Log: cfg.Log}); err != nil {
		return nil, fmt.Errorf("open engine: %w", err)
	}
	s.Actions = &issuance.Actions{Store: s.Store, Workflow: s.Engine, Notify: s.Flow, Log: cfg.Log}
	s.Ingest = &ingest.Service{Store: s.Store, Blob: s.Bucket, Submitter: s.Actions, Limits: sheet.DefaultLimits(),
		TmpDir: os.TempDir(), Log: cfg.Log, BaseURL: cfg.Issuer.BaseURL,
		Notifier: &ingest.MailNotifier{Mailer: notices, Blob: s.Bucket, Store: s.Store, From: mail.From(cfg.Issuer.Name, cfg.From), Admins: flow.Admins, BaseURL: cfg.Issuer.BaseURL}}
	s.Report = &report.Service{Store: s.Store, Mailer: notices, Log: cfg.Log, Config: report.Config{
		From: mail.From(cfg.Issuer.Name, cfg.From), Admins: flow.Admins, SendEmpty: cfg.ReportSendEmpty, BaseURL: cfg.Issuer.BaseURL, Lag: -1}}
	return s, nil
}

// LoadDefinitions stores definitions that are new or changed (a new version each time one
// changes), so loading the same file twice is a no-op.
func (s *Stack) LoadDefinitions(ctx context.Context, defs []credbatch.Definition) error {
	for _, d := range defs {
		cur, err := s.Store.GetDefinition(ctx, d.ID, 0)
		switch {
		case credbatch.IsKind(err, credbatch.KindNotFound):
		case err != nil:
			return err
		default:
			if same(cur, d) {
				continue
			}
			d.Version = cur.Version
		}
		if _, err := s.Store.PutDefinition(ctx, d); err != nil {
			return fmt.Errorf("store definition %s: %w", d.ID, err)
		}
	}
	return nil
}

// same compares definitions by value, ignoring store-assigned fields. It compares their JSON
// documents (the form the definitions file and the API use): pointers (Issuer, an
// attribute's Min and Max) count by what they point to, and a nil list equals an empty one.
func same(a, b credbatch.Definition) bool {
	a.Version, b.Version = 0, 0
	a.CreatedAt, b.CreatedAt = time.Time{}, time.Time{}
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	return erra == nil && errb == nil && bytes.Equal(ja, jb)
}

// Close stops the stack, after the simulated feedback in flight has been delivered.
func (s *Stack) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.Engine != nil {
		errs = append(errs, s.Engine.Close())
	}
	if s.Relay != nil {
		s.Relay.Wait()
	}
	if s.Store != nil {
		errs = append(errs, s.Store.Close())
	}
	return errors.Join(errs...)
}
