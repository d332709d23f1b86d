package dynamo

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/credbatch/credbatch/shared/credbatch"
)

const defHeadSK = "HEAD"

func defPK(id string) string { return "DEF#" + id }

// PutDefinition writes version latest+1, its audit entries, and moves the head to it in one
// transaction whose condition is that the head is still at latest.
func (s *Store) PutDefinition(ctx context.Context, d credbatch.Definition, audit ...credbatch.AuditEntry) (credbatch.Definition, error) {
	if d.ID == "" {
		return d, invalid("definition id is empty")
	}
	latest := 0
	head, err := s.GetDefinition(ctx, d.ID, 0)
	switch {
	case err == nil:
		latest = head.Version
	case !credbatch.IsKind(err, credbatch.KindNotFound):
		return d, err
	}
	if d.Version > 0 && d.Version != latest {
		return d, credbatch.Conflict("definition %s: version %d is not the latest (%d); reload it and apply the change again", d.ID, d.Version, latest)
	}
	d.Version = latest + 1
	d.CreatedAt = s.stamp()
	ver, err := marshal(d, attrPK, defPK(d.ID), attrSK, "V#"+num(d.Version))
	if err != nil {
		return d, err
	}
	headItem, err := marshal(d, attrPK, defPK(d.ID), attrSK, defHeadSK, attrGSI1PK, "DEFS", attrGSI1SK, d.ID)
	if err != nil {
		return d, err
	}
	headPut := &types.Put{TableName: aws.String(s.table), Item: headItem,
		ConditionExpression: aws.String("attribute_not_exists(PK)")}
	if latest > 0 {
		headPut.ConditionExpression = aws.String("Version = :latest")
		headPut.ExpressionAttributeValues = map[string]types.AttributeValue{":latest": mustValue(latest)}
	}
	items := []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(s.table), Item: ver, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		{Put: headPut},
	}
	for _, e := range audit {
		put, err := s.auditPut(d, e)
		if err != nil {
			return d, err
		}
		items = append(items, types.TransactWriteItem{Put: put})
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if txConflict(err) {
		return d, credbatch.Conflict("definition %s was changed concurrently; reload it and apply the change again", d.ID)
	}
	if err != nil {
		return d, fail(fmt.Sprintf("put definition %s", d.ID), err)
	}
	return d, nil
}

// GetDefinition returns a version (0 = the head); KindNotFound.
func (s *Store) GetDefinition(ctx context.Context, id string, version int) (credbatch.Definition, error) {
	var d credbatch.Definition
	switch {
	case version < 0:
		return d, invalid("definition %s: version %d must not be negative", id, version)
	case version == 0:
		return d, s.get(ctx, "get definition", "definition", id, key(defPK(id), defHeadSK), &d)
	}
	return d, s.get(ctx, "get definition", "definition", fmt.Sprintf("%s version %d", id, version), key(defPK(id), "V#"+num(version)), &d)
}

// ListDefinitions returns the heads from GSI1, ordered by id.
func (s *Store) ListDefinitions(ctx context.Context, includeArchived bool) ([]credbatch.Definition, error) {
	items, err := s.queryAll(ctx, "list definitions", &dynamodb.QueryInput{
		IndexName:                 aws.String(gsi1),
		KeyConditionExpression:    aws.String("GSI1PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("DEFS")},
	})
	if err != nil {
		return nil, err
	}
	all, err := decodeAll[credbatch.Definition]("list definitions", items)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, d := range all {
		if includeArchived || !d.Archived {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
