// Package stores opens fresh, real stores for the tests of other packages: SQLite always, and
// DynamoDB Local when AWS_ENDPOINT_URL_DYNAMODB is set (a test fails under CI=true when not).
package stores

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/credbatch/credbatch/shared/awstest"
	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/dynamo"
	"github.com/credbatch/credbatch/shared/sqlite"
)

// Backend names a way to open a fresh store.
type Backend struct {
	Name string
	Open func(t *testing.T) credbatch.Store
}

// All lists every store a test should run against.
var All = []Backend{{"sqlite", SQLite}, {"dynamo", Dynamo}}

// SQLite opens a store in a new file under t.TempDir(), closed when the test ends.
func SQLite(t *testing.T) credbatch.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "credbatch.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close sqlite: %v", err)
		}
	})
	return s
}

// Dynamo creates a table of its own on DynamoDB Local, deleted when the test ends.
func Dynamo(t *testing.T) credbatch.Store {
	t.Helper()
	client := dynamodb.NewFromConfig(awstest.Config(t, "DYNAMODB"), func(o *dynamodb.Options) {
		o.DisableValidateResponseChecksum = true // DynamoDB Local omits X-Amz-Crc32 on errors
	})
	name := awstest.Name(t, "t")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dynamo.CreateTable(ctx, client, name); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return dynamo.New(client, name)
}
