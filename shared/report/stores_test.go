package report_test

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

// backends are the stores every report test runs against: SQLite always, DynamoDB Local
// when AWS_ENDPOINT_URL_DYNAMODB is set (the subtest fails under CI=true when it is not).
var backends = []struct {
	name string
	open func(t *testing.T) credbatch.Store
}{
	{"sqlite", openSQLite},
	{"dynamo", openDynamo},
}

func openSQLite(t *testing.T) credbatch.Store {
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

func openDynamo(t *testing.T) credbatch.Store {
	t.Helper()
	client := dynamodb.NewFromConfig(awstest.Config(t, "DYNAMODB"), func(o *dynamodb.Options) {
		o.DisableValidateResponseChecksum = true // DynamoDB Local omits X-Amz-Crc32 on errors
	})
	name := awstest.Name(t, "rp")
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
