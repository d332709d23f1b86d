package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/credbatch/credbatch/shared/awstest"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/dynamo"
	"github.com/credbatch/credbatch/shared/storetest"
)

// newClient returns a DynamoDB client for DynamoDB Local (AWS_ENDPOINT_URL_DYNAMODB), or
// skips the test when the variable is unset (fails under CI=true).
func newClient(tb testing.TB) *dynamodb.Client {
	tb.Helper()
	// DynamoDB Local omits X-Amz-Crc32 on error responses, which makes the SDK log a
	// spurious warning per conditional failure (aws/aws-sdk-go-v2#3545).
	return dynamodb.NewFromConfig(awstest.Config(tb, "DYNAMODB"), func(o *dynamodb.Options) {
		o.DisableValidateResponseChecksum = true
	})
}

// newTable creates a fresh table named for the test and deletes it at cleanup.
func newTable(tb testing.TB, client *dynamodb.Client) string {
	tb.Helper()
	name := awstest.Name(tb, "cb")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dynamo.CreateTable(ctx, client, name); err != nil {
		tb.Fatalf("create table %s: %v", name, err)
	}
	tb.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return name
}

// mustOpen returns a store on a fresh table.
func mustOpen(tb testing.TB, opts ...dynamo.Option) *dynamo.Store {
	tb.Helper()
	client := newClient(tb)
	return dynamo.New(client, newTable(tb, client), opts...)
}

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) credbatch.Store { return mustOpen(t) })
}
