// Package deployed runs credbatch's deployed shape on one machine: the transformed
// template.yaml created as a stack in moto's CloudFormation, the nine function binaries
// under the Lambda Runtime Interface Emulator with the stack's environment, and the events
// AWS would deliver (S3 notifications, the state machine in the local engine behind a Step
// Functions API endpoint, API Gateway HTTP API v2 requests, SES events through SNS, the
// report schedule), all wired from the stack.
package deployed
