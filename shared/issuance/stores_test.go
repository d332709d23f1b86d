package issuance_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/credbatch/credbatch/shared/awstest"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/dynamo"
	"github.com/credbatch/credbatch/shared/sqlite"
)

// stores are the Store adapters that tests depending on the store's counters and marks run
// against: SQLite, and DynamoDB Local (skipped only when its endpoint is unset, never under CI=true).
var stores = []struct {
	name string
	open func(t *testing.T) credbatch.Store
}{
	{"sqlite", openSQLite},
	{"dynamodb", openDynamo},
}

func openSQLite(t *testing.T) credbatch.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openDynamo(t *testing.T) credbatch.Store {
	t.Helper()
	ctx := context.Background()
	ddb := dynamodb.NewFromConfig(awstest.Config(t, "DYNAMODB"))
	table := awstest.Name(t, "issuance")
	if err := dynamo.CreateTable(ctx, ddb, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &table}) })
	return dynamo.New(ddb, table)
}
