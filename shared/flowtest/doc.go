// Package flowtest holds the end-to-end tests of the issuance flow: the real
// infra/statemachine/issuance.asl.json run by the local engine against the SQLite store, the
// outbox mailer and the real signer, wired as the local stack wires them.
package flowtest
