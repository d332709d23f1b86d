package dynamo

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// batchWriteMax is the most requests one BatchWriteItem call takes.
const batchWriteMax = 25

func batchPK(id string) string { return "BATCH#" + id }
func rowSK(n int) string       { return "ROW#" + num(n) }

// rowIndexed reports whether rows in status st are in GSI1 (GSI1PK=RSTATUS#<batch>#<st>):
// only the exceptions, which are few in a batch and listed on their own — invalid (the
// notification email and the console's list of rows to fix), skipped (the invalid rows a
// batch was submitted without), failed (the rows a retry sends again) and revoked. A
// listing of those reads only them. The statuses every row passes through, valid, issuing
// and issued, are not: each write of a row in GSI1 writes the index as well (ingest 2 units
// instead of 1, each move 2 instead of 1), and a listing of one of them matches most of the
// batch, so reading the batch partition filtered on Status reads little more than it gives.
func rowIndexed(st credbatch.RowStatus) bool {
	switch st {
	case credbatch.RowInvalid, credbatch.RowSkipped, credbatch.RowFailed, credbatch.RowRevoked:
		return true
	}
	return false
}

func rowStatusPK(batchID string, st credbatch.RowStatus) string {
	return "RSTATUS#" + batchID + "#" + string(st)
}

// rowItem encodes a row with its keys: the table key orders rows by number inside the
// batch's partition, GSI1 groups the rows of the exceptional statuses (rowIndexed). Zero-
// valued fields are left out (a valid row has no findings, error, credential or attempts
// yet): they decode to the same zero values, and every attribute costs on each write
// (DynamoDB Local converts and sizes each).
func rowItem(r credbatch.Row) (map[string]types.AttributeValue, error) {
	kv := []string{attrPK, batchPK(r.BatchID), attrSK, rowSK(r.Number)}
	if rowIndexed(r.Status) {
		kv = append(kv, attrGSI1PK, rowStatusPK(r.BatchID, r.Status), attrGSI1SK, num(r.Number))
	}
	item, err := marshal(r, kv...)
	if err != nil {
		return nil, err
	}
	if len(r.Findings) > 0 {
		codes := make([]string, 0, len(r.Findings))
		for _, f := range r.Findings {
			codes = append(codes, f.Code)
		}
		item["FindingCodes"] = mustValue(codes)
	}
	dropZero(item)
	if err := packRow(r, item); err != nil {
		return nil, err
	}
	return item, nil
}

// dropZero removes attributes holding a zero value: NULL, "", 0, an empty list or map.
func dropZero(item map[string]types.AttributeValue) {
	for k, v := range item {
		var zero bool
		switch v := v.(type) {
		case *types.AttributeValueMemberNULL:
			zero = true
		case *types.AttributeValueMemberS:
			zero = v.Value == ""
		case *types.AttributeValueMemberN:
			zero = v.Value == "0"
		case *types.AttributeValueMemberL:
			zero = len(v.Value) == 0
		case *types.AttributeValueMemberM:
			zero = len(v.Value) == 0
		}
		if zero {
			delete(item, k)
		}
	}
}

func checkRow(r credbatch.Row) error {
	switch {
	case r.BatchID == "":
		return invalid("row %d: batch id is empty", r.Number)
	case r.Number < 1:
		return invalid("row of batch %s: number %d must be at least 1", r.BatchID, r.Number)
	case r.Status == "":
		return invalid("row %d of batch %s: status is empty", r.Number, r.BatchID)
	}
	return nil
}

// PutRows writes rows with BatchWriteItem through the store's bounded writer pool.
func (s *Store) PutRows(ctx context.Context, rows []credbatch.Row) error {
	now := s.stamp()
	// BatchWriteItem refuses two requests for one key: the last row of a key wins.
	last := make(map[[2]any]int, len(rows))
	for i, r := range rows {
		if err := checkRow(r); err != nil {
			return err
		}
		last[[2]any{r.BatchID, r.Number}] = i
	}
	reqs := make([]types.WriteRequest, 0, len(last))
	for i, r := range rows {
		if last[[2]any{r.BatchID, r.Number}] != i {
			continue
		}
		if r.UpdatedAt.IsZero() {
			r.UpdatedAt = now
		}
		item, err := rowItem(r)
		if err != nil {
			return err
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	if err := s.writeAll(ctx, reqs); err != nil {
		return fmt.Errorf("put %d rows: %w", len(reqs), err)
	}
	return nil
}

// DeleteRows reads the keys of a batch's rows and deletes them in batches of 25.
func (s *Store) DeleteRows(ctx context.Context, batchID string) error {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("PK = :pk AND begins_with(SK, :row)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(batchPK(batchID)), ":row": str("ROW#")},
		ProjectionExpression:      aws.String("PK, SK"),
		ConsistentRead:            aws.Bool(true),
	}
	var reqs []types.WriteRequest
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return fail(fmt.Sprintf("list rows of batch %s", batchID), err)
		}
		for _, it := range out.Items {
			reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: itemKey(it, "")}})
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if err := s.writeAll(ctx, reqs); err != nil {
		return fmt.Errorf("delete %d rows of batch %s: %w", len(reqs), batchID, err)
	}
	return nil
}

// writeAll sends reqs in groups of 25 with at most s.writers requests in flight; the first
// failure cancels the rest.
func (s *Store) writeAll(ctx context.Context, reqs []types.WriteRequest) error {
	if len(reqs) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	groups := make(chan []types.WriteRequest)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	workers := min(s.writers, (len(reqs)+batchWriteMax-1)/batchWriteMax)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range groups {
				if err := s.writeGroup(ctx, g); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
send:
	for i := 0; i < len(reqs); i += batchWriteMax {
		select {
		case groups <- reqs[i:min(i+batchWriteMax, len(reqs))]:
		case <-ctx.Done():
			break send
		}
	}
	close(groups)
	wg.Wait()
	if first != nil {
		return first
	}
	return fail("batch write", ctx.Err())
}

// writeGroup writes up to 25 requests, retrying UnprocessedItems and throttling errors
// with exponential backoff and full jitter, at most s.attempts requests in all.
func (s *Store) writeGroup(ctx context.Context, pending []types.WriteRequest) error {
	var lastErr error
	for attempt := 0; attempt < s.attempts; attempt++ {
		if attempt > 0 {
			if err := s.sleep(ctx, s.backoff(attempt-1)); err != nil {
				return fail("batch write", err)
			}
		}
		out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{s.table: pending},
		})
		if err != nil {
			if !retryable(err) || ctx.Err() != nil {
				return fail("batch write", err)
			}
			lastErr = err
			continue
		}
		pending = out.UnprocessedItems[s.table]
		if len(pending) == 0 {
			return nil
		}
		lastErr = fmt.Errorf("%d items unprocessed", len(pending))
	}
	return &credbatch.Error{Kind: credbatch.KindUnavailable, Code: string(credbatch.KindUnavailable), Op: "batch write",
		Message: fmt.Sprintf("DynamoDB is throttling: %d items still unwritten after %d attempts (last: %v); retry later", len(pending), s.attempts, lastErr),
		Err:     lastErr}
}

// backoff returns a random delay in [0, min(max, base·2^attempt)) (full jitter).
func (s *Store) backoff(attempt int) time.Duration {
	ceil := s.maxBackoff
	if attempt < 30 {
		if d := s.baseBackoff << attempt; d > 0 && d < ceil {
			ceil = d
		}
	}
	return time.Duration(s.jitter(int64(ceil)))
}

// GetRow returns one row; KindNotFound.
func (s *Store) GetRow(ctx context.Context, batchID string, number int) (credbatch.Row, error) {
	id := fmt.Sprintf("%s/%d", batchID, number)
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(batchPK(batchID), rowSK(number)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return credbatch.Row{}, fail("get row "+id, err)
	}
	if len(out.Item) == 0 {
		return credbatch.Row{}, credbatch.NotFound("row", id)
	}
	return decodeRow(out.Item)
}

// ListRows lists a batch's rows in number order: the batch partition, or GSI1 for one of
// the statuses in it (rowIndexed); the other statuses and a finding code are filters.
func (s *Store) ListRows(ctx context.Context, batchID string, f credbatch.RowFilter) (credbatch.Page[credbatch.Row], error) {
	in := &dynamodb.QueryInput{ScanIndexForward: aws.Bool(true)}
	// Row numbers in [FromNumber, ToNumber): zero-padded numbers sort as numbers, and "~"
	// sorts after every digit.
	lo, hi := num(max(f.FromNumber, 0)), "~"
	if f.ToNumber > 0 {
		hi = num(f.ToNumber - 1)
	}
	var filters []string
	cursor := f.Cursor
	if f.Status == "" || !rowIndexed(f.Status) {
		in.KeyConditionExpression = aws.String("PK = :pk AND SK BETWEEN :lo AND :hi")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":pk": str(batchPK(batchID)), ":lo": str("ROW#" + lo), ":hi": str("ROW#" + hi)}
		in.ConsistentRead = aws.Bool(true)
		if f.Status != "" {
			// The batch partition, filtered: it holds every row once, also one written
			// in this status with GSI1 keys before the status left the index.
			filters = append(filters, "#st = :st")
			in.ExpressionAttributeNames = map[string]string{"#st": "Status"}
			in.ExpressionAttributeValues[":st"] = str(string(f.Status))
			cursor = partitionCursor(cursor, rowStatusPK(batchID, f.Status))
		}
	} else {
		in.IndexName = aws.String(gsi1)
		in.KeyConditionExpression = aws.String("GSI1PK = :pk AND GSI1SK BETWEEN :lo AND :hi")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":pk": str(rowStatusPK(batchID, f.Status)), ":lo": str(lo), ":hi": str(hi)}
	}
	if f.Code != "" {
		filters = append(filters, "contains(FindingCodes, :code)")
		in.ExpressionAttributeValues[":code"] = str(f.Code)
	}
	if len(filters) > 0 {
		in.FilterExpression = aws.String(strings.Join(filters, " AND "))
	}
	items, next, err := s.query(ctx, fmt.Sprintf("list rows of batch %s", batchID), in, cursor, f.Limit)
	if err != nil {
		return credbatch.Page[credbatch.Row]{}, err
	}
	rows := make([]credbatch.Row, 0, len(items))
	for _, it := range items {
		r, err := decodeRow(it)
		if err != nil {
			return credbatch.Page[credbatch.Row]{}, err
		}
		rows = append(rows, r)
	}
	return credbatch.Page[credbatch.Row]{Items: rows, Next: next}, nil
}

// partitionCursor turns the cursor of a status listing read from GSI1 partition pk (handed
// out while rows in that status were in the index) into the batch partition's: both list
// the rows in number order, and the row's own key is in both. Any other cursor is returned
// as it is, for query to check.
func partitionCursor(cursor, pk string) string {
	k, err := decodeCursor(cursor, gsi1)
	if err != nil || k == nil {
		return cursor
	}
	if v, ok := k[attrGSI1PK].(*types.AttributeValueMemberS); !ok || v.Value != pk {
		return cursor
	}
	out, err := encodeCursor(map[string]types.AttributeValue{attrPK: k[attrPK], attrSK: k[attrSK]})
	if err != nil {
		return cursor
	}
	return out
}

// UpdateRow replaces a row whose stored status is `from` (conditional put).
func (s *Store) UpdateRow(ctx context.Context, r credbatch.Row, from credbatch.RowStatus) (credbatch.Row, error) {
	return s.updateRow(ctx, r, from, nil)
}

// UpdateRowEvidence replaces a row whose status is from and whose evidence lock is still
// lock ("" = none).
func (s *Store) UpdateRowEvidence(ctx context.Context, r credbatch.Row, from credbatch.RowStatus, lock string) (credbatch.Row, error) {
	return s.updateRow(ctx, r, from, &lock)
}

// updateRow puts r when its status is from and, with lock, its evidence lock is *lock
// (Evidence.Lock, absent or "" for none).
func (s *Store) updateRow(ctx context.Context, r credbatch.Row, from credbatch.RowStatus, lock *string) (credbatch.Row, error) {
	if err := checkRow(r); err != nil {
		return r, err
	}
	if !credbatch.CanTransitionRow(from, r.Status) {
		return r, credbatch.Conflict("row %d of batch %s cannot move from %s to %s", r.Number, r.BatchID, from, r.Status)
	}
	r.UpdatedAt = s.stamp()
	item, err := rowItem(r)
	if err != nil {
		return r, err
	}
	in := &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item,
		ConditionExpression:       aws.String("attribute_exists(PK) AND #st = :from"),
		ExpressionAttributeNames:  map[string]string{"#st": "Status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":from": str(string(from))},
	}
	conflict := credbatch.Conflict("row %d of batch %s is not %s", r.Number, r.BatchID, from)
	if lock != nil {
		in.ConditionExpression = aws.String("attribute_exists(PK) AND #st = :from AND " +
			"(#ev.#lock = :lock OR (:lock = :none AND attribute_not_exists(#ev.#lock)))")
		in.ExpressionAttributeNames["#ev"], in.ExpressionAttributeNames["#lock"] = "Evidence", "Lock"
		in.ExpressionAttributeValues[":lock"], in.ExpressionAttributeValues[":none"] = str(*lock), str("")
		conflict = credbatch.Conflict("row %d of batch %s is not %s with the evidence lock %q: it was changed by someone else", r.Number, r.BatchID, from, *lock)
	}
	_, err = s.db.PutItem(ctx, in)
	if conditionFailed(err) {
		id := fmt.Sprintf("%s/%d", r.BatchID, r.Number)
		return r, s.missingOr(ctx, "row", id, key(batchPK(r.BatchID), rowSK(r.Number)), conflict)
	}
	if err != nil {
		return r, fail(fmt.Sprintf("update row %d of batch %s", r.Number, r.BatchID), err)
	}
	return r, nil
}
