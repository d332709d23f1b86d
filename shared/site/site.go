// Package site builds credbatch's one HTTP handler (the JSON API, the console and the public
// pages over the same services) for its compositions: the api Lambda and the local stack
// (every route), and the public Lambda (Public: the routes that sign nothing).
package site

import (
	"log/slog"
	"time"

	"github.com/credbatch/credbatch/shared/auth"
	"github.com/credbatch/credbatch/shared/catalogue"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/credential"
	"github.com/credbatch/credbatch/shared/httpapi"
	"github.com/credbatch/credbatch/shared/ingest"
	"github.com/credbatch/credbatch/shared/issuance"
	"github.com/credbatch/credbatch/shared/keys"
	"github.com/credbatch/credbatch/shared/pages"
	"github.com/credbatch/credbatch/shared/sheet"
	"github.com/credbatch/credbatch/shared/statuslist"
	"github.com/credbatch/credbatch/shared/unsubscribe"
)

// Deps are the adapters the handler runs on. Store, Blob, Workflow, Keys, Signer, Issuer and
// APIAuth are required, except with Public.
type Deps struct {
	// Public serves only the public routes that sign nothing (httpapi.PublicRoutes and the
	// credential pages): Store, Blob, Keys (the published public halves suffice), Issuer
	// and PageAuth (staff see a revoked credential's evidence) are used; Workflow, Signer,
	// Mailer and APIAuth are not.
	Public bool

	Store    credbatch.Store
	Blob     credbatch.Blob
	Workflow credbatch.Workflow
	Mailer   credbatch.Mailer // resends; nil makes resend 503
	Keys     keys.Set
	Signer   *credential.Signer
	Issuer   credential.Issuer // BaseURL is the public URL of the API, the console and the pages
	From     string            // sender of resent emails
	DID      string            // did:web of the issuer; "" serves no did.json
	// APIAuth identifies callers of /api/...; PageAuth checks the tokens people sign in to the
	// console with (default APIAuth). On AWS the API sits behind the authorizer while the
	// pages, reached by browsers, verify the same OIDC tokens themselves.
	APIAuth  auth.Authenticator
	PageAuth auth.Authenticator
	// Flow is the issuance configuration (approval timeout, approvers); Issuer and From are
	// filled in from the fields above.
	Flow      issuance.Config
	Limits    sheet.Limits  // default sheet.DefaultLimits
	StatusTTL time.Duration // how long signed status lists are cached (default 30 seconds)
	TmpDir    string
	Clock     credbatch.Clock
	Log       *slog.Logger
}

// New wires the services once over the adapters and returns the handler with every route:
// the API (httpapi.Routes), the console and the public pages, and /login.
func New(d Deps) *httpapi.API {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Limits == (sheet.Limits{}) {
		d.Limits = sheet.DefaultLimits()
	}
	if d.StatusTTL <= 0 {
		d.StatusTTL = 30 * time.Second
	}
	if d.PageAuth == nil {
		d.PageAuth = d.APIAuth
	}
	d.Flow.Issuer, d.Flow.From = d.Issuer, d.From
	var unsub *unsubscribe.Service
	if !d.Public {
		unsub = &unsubscribe.Service{Store: d.Store, BaseURL: d.Issuer.BaseURL, Clock: d.Clock, Log: d.Log}
		d.Mailer = unsubscribe.Wrap(d.Mailer, unsub) // notifications get one-click unsubscribe links
	}
	lists := &statuslist.Lists{Store: d.Store, TTL: d.StatusTTL, Now: d.Clock}
	flow := &issuance.Service{Store: d.Store, Mailer: d.Mailer, Blob: d.Blob, Signer: d.Signer, Clock: d.Clock, Config: d.Flow, Log: d.Log, StatusCache: lists}
	var (
		actions *issuance.Actions
		cat     *catalogue.Service
		ing     *ingest.Service
	)
	if !d.Public { // the console's and the API's services: they change things
		actions = &issuance.Actions{Store: d.Store, Workflow: d.Workflow, Clock: d.Clock, Notify: flow, Log: d.Log}
		cat = &catalogue.Service{Store: d.Store, IDs: issuance.NewID, Log: d.Log}
		ing = &ingest.Service{Store: d.Store, Blob: d.Blob, Clock: d.Clock, IDs: issuance.NewID, Limits: d.Limits, TmpDir: d.TmpDir, Log: d.Log,
			BaseURL: d.Issuer.BaseURL}
	}
	pg := pages.New(pages.Deps{Store: d.Store, Actions: actions, Ingest: ing, Flow: flow, Catalogue: cat, Keys: d.Keys, Issuer: d.Issuer, Auth: d.PageAuth,
		StatusLists: lists, Clock: d.Clock, Log: d.Log, ApprovalTimeout: d.Flow.ApprovalTimeout})
	api := httpapi.New(httpapi.Deps{Store: d.Store, Blob: d.Blob, Actions: actions, Ingest: ing, Flow: flow, Catalogue: cat, Keys: d.Keys,
		Signer: d.Signer, Issuer: d.Issuer, Mailer: d.Mailer, From: d.From, Auth: d.APIAuth, DID: d.DID, Clock: d.Clock,
		Limits: d.Limits, TmpDir: d.TmpDir, Log: d.Log, Pages: pg, StatusLists: lists, PublicOnly: d.Public})
	if d.Public {
		return api
	}
	api.Handle(pages.LoginPath, pg)
	api.Handle(unsubscribe.Pattern, unsub.Handler())
	for _, p := range pages.ConsolePatterns {
		api.Handle(p, pg)
	}
	return api
}
