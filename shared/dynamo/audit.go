package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// An audit entry is an item keyed by its id (so an id is stored once) and listed through
// GSI1 as one partition sorted by time then id: it is written only when a policy changes,
// so the partition never grows hot.
const auditGSI1PK = "AUDIT"

func auditPK(id string) string { return "AUDIT#" + id }

// auditPut is the transaction item of an audit entry of definition version d.
func (s *Store) auditPut(d credbatch.Definition, e credbatch.AuditEntry) (*types.Put, error) {
	if e.ID == "" {
		return nil, invalid("an audit entry needs an id")
	}
	e.At, e.Version = d.CreatedAt, d.Version
	item, err := marshal(e, attrPK, auditPK(e.ID), attrSK, "AUDIT", attrGSI1PK, auditGSI1PK, attrGSI1SK, timeKey(e.At)+"#"+e.ID)
	if err != nil {
		return nil, err
	}
	return &types.Put{TableName: aws.String(s.table), Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)")}, nil
}

// RecordAudit stores one audit entry of an action that changes no definition.
func (s *Store) RecordAudit(ctx context.Context, e credbatch.AuditEntry) error {
	if e.At.IsZero() {
		return invalid("an audit entry needs its time")
	}
	put, err := s.auditPut(credbatch.Definition{CreatedAt: e.At, Version: e.Version}, e)
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: put.TableName, Item: put.Item, ConditionExpression: put.ConditionExpression})
	if conditionFailed(err) {
		return credbatch.Conflict("audit entry %s exists", e.ID)
	}
	return fail("record audit entry "+e.ID, err)
}

// ListAudit lists the audit trail, newest first.
func (s *Store) ListAudit(ctx context.Context, cursor string, limit int) (credbatch.Page[credbatch.AuditEntry], error) {
	items, next, err := s.query(ctx, "list audit", &dynamodb.QueryInput{
		IndexName:                 aws.String(gsi1),
		KeyConditionExpression:    aws.String("GSI1PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(auditGSI1PK)},
		ScanIndexForward:          aws.Bool(false),
	}, cursor, limit)
	if err != nil {
		return credbatch.Page[credbatch.AuditEntry]{}, err
	}
	out, err := decodeAll[credbatch.AuditEntry]("list audit", items)
	return credbatch.Page[credbatch.AuditEntry]{Items: out, Next: next}, err
}
