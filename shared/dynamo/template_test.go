package dynamo_test

import (
	"context"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gopkg.in/yaml.v3"

	"github.com/credbatch/credbatch/shared/dynamo"
)

// capture is a TableAPI that records the CreateTable input and reports the table active.
type capture struct{ in *dynamodb.CreateTableInput }

func (c *capture) CreateTable(_ context.Context, in *dynamodb.CreateTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error) {
	c.in = in
	return &dynamodb.CreateTableOutput{}, nil
}

func (c *capture) DescribeTable(_ context.Context, in *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	return &dynamodb.DescribeTableOutput{Table: &types.TableDescription{TableName: in.TableName, TableStatus: types.TableStatusActive}}, nil
}

// templateTable is the part of template.yaml's Table resource that CreateTable also sets.
type templateTable struct {
	BillingMode          string `yaml:"BillingMode"`
	AttributeDefinitions []struct {
		AttributeName string `yaml:"AttributeName"`
		AttributeType string `yaml:"AttributeType"`
	} `yaml:"AttributeDefinitions"`
	KeySchema              []keyElem `yaml:"KeySchema"`
	GlobalSecondaryIndexes []struct {
		IndexName  string    `yaml:"IndexName"`
		KeySchema  []keyElem `yaml:"KeySchema"`
		Projection struct {
			ProjectionType string `yaml:"ProjectionType"`
		} `yaml:"Projection"`
	} `yaml:"GlobalSecondaryIndexes"`
}

type keyElem struct {
	AttributeName string `yaml:"AttributeName"`
	KeyType       string `yaml:"KeyType"`
}

// TestTemplateTable checks that template.yaml declares the table CreateTable creates for
// the tests and the local tooling: attributes, keys, indexes and their projections.
func TestTemplateTable(t *testing.T) {
	var c capture
	if err := dynamo.CreateTable(t.Context(), &c, "t"); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Resources struct {
			Table struct {
				Properties yaml.Node `yaml:"Properties"`
			} `yaml:"Table"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	var tpl templateTable
	if err := doc.Resources.Table.Properties.Decode(&tpl); err != nil {
		t.Fatalf("Table properties: %v", err)
	}

	type gsi struct {
		name, projection string
		keys             []keyElem
	}
	keys := func(ks []types.KeySchemaElement) []keyElem {
		out := make([]keyElem, len(ks))
		for i, k := range ks {
			out[i] = keyElem{aws.ToString(k.AttributeName), string(k.KeyType)}
		}
		return out
	}
	var wantAttrs, gotAttrs []string
	for _, a := range c.in.AttributeDefinitions {
		wantAttrs = append(wantAttrs, aws.ToString(a.AttributeName)+":"+string(a.AttributeType))
	}
	for _, a := range tpl.AttributeDefinitions {
		gotAttrs = append(gotAttrs, a.AttributeName+":"+a.AttributeType)
	}
	slices.Sort(wantAttrs)
	slices.Sort(gotAttrs)
	var wantGSIs, gotGSIs []gsi
	for _, g := range c.in.GlobalSecondaryIndexes {
		wantGSIs = append(wantGSIs, gsi{aws.ToString(g.IndexName), string(g.Projection.ProjectionType), keys(g.KeySchema)})
	}
	for _, g := range tpl.GlobalSecondaryIndexes {
		gotGSIs = append(gotGSIs, gsi{g.IndexName, g.Projection.ProjectionType, g.KeySchema})
	}
	tests := []struct {
		what      string
		got, want any
	}{
		{"billing mode", tpl.BillingMode, string(c.in.BillingMode)},
		{"attribute definitions", gotAttrs, wantAttrs},
		{"key schema", tpl.KeySchema, keys(c.in.KeySchema)},
		{"global secondary indexes", gotGSIs, wantGSIs},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("template.yaml %s = %+v, CreateTable has %+v", tt.what, tt.got, tt.want)
		}
	}
}
