package dynamo

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// DynamoDB refuses items over 400 KB. A row whose encoded item passes packAbove keeps its
// bulky fields (Attributes, Cells, Findings) gzip-compressed in one binary attribute; one
// that is still over maxItemSize is refused with KindInvalid before any request is sent.
const (
	packAbove   = 300 << 10
	maxItemSize = 400 << 10
	attrPacked  = "Packed"
)

// bulky are the row fields that get packed.
type bulky struct {
	Attributes map[string]string   `json:"a,omitempty"`
	Cells      []string            `json:"c,omitempty"`
	Findings   []credbatch.Finding `json:"f,omitempty"`
}

// itemSize estimates an item's size as DynamoDB counts it (names plus values).
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return len(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberSS:
		n := 0
		for _, e := range v.Value {
			n += len(e)
		}
		return n
	}
	return 1
}

// packRow replaces the bulky fields of a large row item by their compressed form.
func packRow(r credbatch.Row, item map[string]types.AttributeValue) error {
	if itemSize(item) <= packAbove {
		return nil
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(bulky{r.Attributes, r.Cells, r.Findings}); err != nil {
		return credbatch.Errorf(credbatch.KindInternal, "pack row %d: %v", r.Number, err)
	}
	if err := zw.Close(); err != nil {
		return credbatch.Errorf(credbatch.KindInternal, "pack row %d: %v", r.Number, err)
	}
	delete(item, "Attributes")
	delete(item, "Cells")
	delete(item, "Findings")
	item[attrPacked] = &types.AttributeValueMemberB{Value: buf.Bytes()}
	if size := itemSize(item); size > maxItemSize {
		return invalid("row %d of batch %s is too large to store (%d KB compressed, limit 400 KB): lower the file's cell or column limits", r.Number, r.BatchID, size>>10)
	}
	return nil
}

// decodeRow decodes a row item, unpacking its bulky fields when they were packed.
func decodeRow(item map[string]types.AttributeValue) (credbatch.Row, error) {
	var r credbatch.Row
	if err := attributevalue.UnmarshalMap(item, &r); err != nil {
		return r, credbatch.Errorf(credbatch.KindInternal, "decode row: %v", err)
	}
	p, ok := item[attrPacked].(*types.AttributeValueMemberB)
	if !ok {
		return r, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(p.Value))
	var b bulky
	if err == nil {
		var raw []byte
		if raw, err = io.ReadAll(zr); err == nil {
			err = json.Unmarshal(raw, &b)
		}
	}
	if err != nil {
		return r, credbatch.Errorf(credbatch.KindInternal, "decode row %d of batch %s: unpack: %v", r.Number, r.BatchID, err)
	}
	r.Attributes, r.Cells, r.Findings = b.Attributes, b.Cells, b.Findings
	return r, nil
}
