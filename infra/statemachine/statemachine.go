// Package statemachine embeds the issuance state machine definition, the single source of
// truth for the flow: SAM deploys issuance.asl.json to Step Functions, and the local engine
// executes the same bytes.
package statemachine

import _ "embed"

// Issuance is infra/statemachine/issuance.asl.json.
//
//go:embed issuance.asl.json
var Issuance []byte

// Substitution names used in the definition (template.yaml DefinitionSubstitutions).
const (
	WorkflowFunctionArn = "WorkflowFunctionArn"
	ApprovalFunctionArn = "ApprovalFunctionArn"
	IssueFunctionArn    = "IssueFunctionArn"
)
