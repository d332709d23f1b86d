// Package dynamo is the DynamoDB adapter of credbatch.Store: one table, one overloaded GSI.
//
// # Table
//
// Keys (all strings): PK (hash) and SK (range); one global secondary index GSI1 (GSI1PK,
// GSI1SK), projecting ALL and sparse: an item appears in it only when it carries GSI1PK.
// One index, not one per lookup: a write costs once more for each index the item is in, and
// DynamoDB Local parses the table's schema (which grows with every index) twice for every
// item it writes, so each index slowed row ingestion there by 10-15% (measured with 0-3
// indexes). Lookups that would need a second index on the same item use pointer items in the
// table instead: a credential's place in its batch. (SES events name their credential by the
// credential_id message tag, so no item maps message ids.) A credential's signed document
// (2-3 KB; with its VC-JWT, 0.8-1 KB compressed with a preset dictionary, docz.go) lives in
// an item of its own beside the head, and the head is outside GSI1 (its pointer item in its batch
// is its entry there), so that the status moves that rewrite the head cost 1 write unit each and the
// document's put 1. A pointer is
// written before what it indexes and readers check what it leads to, so a crash between the
// two writes leaves only a harmless pointer. CreateTable creates this
// schema; template.yaml declares the same table for deployment and must be kept in step.
// Domain objects are stored with attributevalue.MarshalMap (attribute names are the Go
// field names) beside the key attributes; times are RFC 3339 strings, and times inside keys
// use a fixed-width UTC form so that they sort.
//
// # Access patterns
//
//	pattern                                  where  key condition (N = zero-padded number, T = fixed-width UTC time)
//	---------------------------------------  -----  -------------------------------------------------------------------
//	definition head (latest version)         table  PK=DEF#<id>            SK=HEAD
//	definition version                       table  PK=DEF#<id>            SK=V#<N>
//	definitions, by id                       GSI1   GSI1PK=DEFS            GSI1SK=<id>                (heads only)
//	batch by id / by source object           table  PK=BATCH#<id>          SK begins_with BATCH: SK=BATCH and its email counters SK=BATCH#COUNTS (id = credbatch.BatchIDFor(source))
//	batches newest first                     GSI1   GSI1PK=BATCHES         GSI1SK=T#<id>, descending
//	batches by status, newest first          GSI1   as above, FilterExpression Status = st
//	batches by label prefix, newest first    GSI1   as above, FilterExpression begins_with(LabelLower, lower(prefix))
//	rows of a batch in order, paged          table  PK=BATCH#<id>          SK begins_with ROW#  (SK=ROW#<N>)
//	rows of a batch by status                GSI1   GSI1PK=RSTATUS#<id>#<st> GSI1SK=<N>  (invalid, skipped, failed, revoked only)
//	rows of a batch in valid/issuing/issued  table  PK=BATCH#<id>          SK begins_with ROW#, FilterExpression Status = st  (not in GSI1: 1 unit a write)
//	rows of a batch by finding code          table or GSI1 as above, FilterExpression contains(FindingCodes, code)
//	credential by id                         table  PK=CRED#<id>           (one query: SK=CRED, the head, and its signed document)
//	credential's signed document             table  PK=CRED#<id>           SK=DOC#<random>  (the head's DocSK; Docz1, or JWTgz+JWTDetached before it; written once, before the head)
//	credentials by recipient, newest first   GSI1   GSI1PK=EMAIL#<lower>   GSI1SK=T#<id>, descending (the pointer items below; heads stored before them are their own entries), then BatchGetItem
//	active credential of definition + email  GSI1   as above, FilterExpression DefinitionID = d, the first whose head is issued
//	credentials of a batch, row order        table  PK=BATCH#<batch>       SK begins_with CRED#  (SK=CRED#<N>#<id> → CredentialID, DefinitionID; in GSI1 by recipient), then BatchGetItem
//	revoked credentials                      table  PK=REVOKED             SK=<id>  (copy written in the revoking transaction)
//	status-list index counter                table  PK=COUNTER#STATUSINDEX SK=COUNTER  (ADD Next :n)
//	published status list credential         table  PK=STATUSLIST#<N>      SK=STATUSLIST  (Version: conditional put, compare-and-swap)
//	published public key set (JWKS)          table  PK=KEYS#PUBLIC         SK=KEYS  (written by the keys function only)
//	delivery event by id (idempotency)       table  PK=DELIVERY#<id>       SK=DELIVERY  (attribute_not_exists(PK))
//	deliveries since a time, oldest first    GSI1   GSI1PK=DELIV#<YYYY-MM-DD> GSI1SK=T#<id>, one partition per UTC day
//	days that have deliveries                table  PK=DELIVDAYS           SK=<YYYY-MM-DD>
//	suppression by address                   table  PK=SUPP#<lower email>  SK=SUPP
//	named watermark (mark)                   table  PK=MARK#<name>         SK=MARK
//	browser session by key (hash of its id)  table  PK=SESSION#<key>       SK=SESSION  (ExpiresAt: the table's TTL, epoch seconds)
//	audit entry by id (written once)         table  PK=AUDIT#<id>          SK=AUDIT  (in the definition version's transaction)
//	audit trail, newest first                GSI1   GSI1PK=AUDIT           GSI1SK=<T>#<id>, descending
//
// Label search and the status filter are filtered queries over the newest-first index:
// DynamoDB cannot order a prefix match on one key by another, and batches are few
// (thousands), so the filter reads little. Filtered listings keep reading pages until the page is full or the index ends, so
// a page is never short while more matches exist, and Next is "" exactly at the end.
// No request path uses Scan.
//
// Batch counters are moved by ADD, outside transactions (which bill every item twice): an
// email status move is a conditional update, and only the writer whose update succeeded
// adds its change to the counters, in a second write (countEmail).
//
// Every state change is a conditional write (ConditionalCheckFailedException becomes
// credbatch.KindConflict, or KindNotFound when the item is missing). Rows are written with
// BatchWriteItem (25 per request) by a bounded pool of writers that retries UnprocessedItems
// and throttling errors with exponential backoff and full jitter, on top of the SDK's own
// retryer, and gives up with credbatch.KindUnavailable after a bounded number of attempts.
// Cursors are opaque: base64url of the LastEvaluatedKey as JSON.
package dynamo
