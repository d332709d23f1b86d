package main

import (
	"context"
	"fmt"
)

// benchIssue issues 20,000 credentials end to end into the outbox (wired once the local
// stack lands).
func benchIssue(ctx context.Context, work string) error {
	fmt.Println("\n== issuance: not wired yet")
	return nil
}

// benchPayload prints the largest state payload of a 100,000-row batch.
func benchPayload(ctx context.Context, work string) error {
	fmt.Println("\n== state payload: not wired yet")
	return nil
}
