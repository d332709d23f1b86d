// Package awstest gives tests an AWS SDK config pointed at a local emulator, or skips them.
//
// A backend test calls Config(t, "DYNAMODB"); the endpoint comes from the SDK's standard
// variable (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_SESV2,
// AWS_ENDPOINT_URL_SFN, AWS_ENDPOINT_URL_SNS). When it is unset the test is skipped, except
// under CI=true, where a missing backend fails the test: CI must never pass by skipping.
package awstest

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Endpoint returns the emulator endpoint for the service (as in AWS_ENDPOINT_URL_<SERVICE>),
// skipping the test when unset, or failing it under CI=true.
func Endpoint(tb testing.TB, service string) string {
	tb.Helper()
	name := "AWS_ENDPOINT_URL_" + strings.ToUpper(service)
	ep := os.Getenv(name)
	if ep == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set: the %s backend is missing (make test starts it)", name, service)
		}
		tb.Skipf("%s not set; run make test to start the local %s backend", name, service)
	}
	return ep
}

// Config returns an SDK config with static test credentials, region us-east-1 and the
// standard endpoint variables honoured, after checking that the service's endpoint is set.
func Config(tb testing.TB, service string) aws.Config {
	tb.Helper()
	Endpoint(tb, service)
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
	)
	if err != nil {
		tb.Fatalf("load AWS config: %v", err)
	}
	return cfg
}

// Name returns a name unique to the test, usable as a table name, bucket or key prefix
// (lower-case letters, digits and dashes, at most 63 characters).
func Name(tb testing.TB, prefix string) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteByte('-')
	for _, r := range strings.ToLower(tb.Name()) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := b.String()
	if len(s) > 50 {
		s = s[:50]
	}
	return strings.Trim(s, "-") + "-" + randSuffix()
}
