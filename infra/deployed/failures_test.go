package deployed_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/credbatch/credbatch/infra/deployed"
	"github.com/credbatch/credbatch/shared/credbatch"
)

// abortedExecution: an operator stops a batch's execution while it issues (StopExecution on
// the engine's Step Functions endpoint); no Catch runs. Step Functions' status-change event
// reaches the workflow function through the stack's EventBridge rule, which marks the batch
// failed (its unissued rows failed, retryable) and emails the administrators once.
func abortedExecution(t *testing.T, h *deployed.Harness, issuer, approver *client) {
	key := "uploads/aborted.csv"
	put(t, h, key, csvFile("aborted", 3), csvType, map[string]string{"label": "aborted run", "uploader": issuerEmail})
	b := issuer.batchOf(key)
	// The batch's credential emails are throttled, so its chunk is still retrying when the
	// execution is stopped.
	h.SES.SetRefuse(func(e deployed.Email) *deployed.Fault {
		if e.Tags["batch_id"] == b.ID && e.Tags["credential_id"] != "" {
			return deployed.Throttled
		}
		return nil
	})
	defer h.SES.SetRefuse(nil)
	issuer.submit(b)
	eventually(t, 2*time.Minute, "awaiting approval", func() bool { return issuer.batch(b.ID).Status == credbatch.BatchAwaitingApproval })
	eventually(t, time.Minute, "approve", func() bool {
		return approver.do("POST", "/api/batches/"+b.ID+"/approve", nil, nil) == 200 || issuer.batch(b.ID).Status != credbatch.BatchAwaitingApproval
	})
	eventually(t, time.Minute, "issuing", func() bool { return issuer.batch(b.ID).Status == credbatch.BatchIssuing })
	b = issuer.batch(b.ID)
	before := h.Events.Delivered()["WorkflowFunctionExecutionEnded"]
	sfn := awssfn.NewFromConfig(aws.Config{Region: h.Deploy.Region, Credentials: aws.AnonymousCredentials{}, BaseEndpoint: aws.String(h.SFNURL)})
	if _, err := sfn.StopExecution(context.Background(), &awssfn.StopExecutionInput{ExecutionArn: aws.String(b.ExecutionID),
		Error: aws.String("OperatorStopped"), Cause: aws.String("stopped by the on-call operator")}); err != nil {
		t.Fatalf("StopExecution %s: %v", b.ExecutionID, err)
	}
	out, err := sfn.DescribeExecution(context.Background(), &awssfn.DescribeExecutionInput{ExecutionArn: aws.String(b.ExecutionID)})
	if err != nil || out.Status != "ABORTED" {
		t.Fatalf("DescribeExecution after the stop: %v, %v; want ABORTED", out, err)
	}
	// The refusal stays on: the aborted execution's chunk worker keeps running (as a Lambda
	// invocation outlives its execution) and must not issue the rows before they are marked.
	eventually(t, time.Minute, "batch marked failed", func() bool { return issuer.batch(b.ID).Status.Terminal() })
	b = issuer.batch(b.ID)
	if b.Status != credbatch.BatchCompletedFailed || b.Counts.Failed == 0 || !strings.Contains(b.Reason, "OperatorStopped") {
		t.Fatalf("aborted batch %s: %s, failed %d, reason %q; want completed_with_failures naming OperatorStopped", b.ID, b.Status, b.Counts.Failed, b.Reason)
	}
	var failed struct{ Items []credbatch.Row }
	issuer.must("GET", "/api/batches/"+b.ID+"/rows?status=failed", nil, &failed, 200)
	if len(failed.Items) == 0 || !strings.Contains(failed.Items[0].Error, "retry") {
		t.Errorf("failed rows of the aborted batch: %+v; want the error and how to retry", failed.Items)
	}
	h.Events.Wait()
	if n := h.Events.Delivered()["WorkflowFunctionExecutionEnded"] - before; n != 1 {
		t.Errorf("%d events delivered by the ExecutionEnded rule, want 1", n)
	}
	var alerts []deployed.Email
	for _, e := range h.SES.Emails() {
		if e.Tags["kind"] == "execution_alert" && e.Tags["batch_id"] == b.ID {
			alerts = append(alerts, e)
		}
	}
	if len(alerts) != 1 || len(alerts[0].To) != 1 || alerts[0].To[0] != adminEmail || !strings.Contains(alerts[0].Subject, "aborted") {
		t.Errorf("execution alerts for %s: %+v; want one to %s", b.ID, alerts, adminEmail)
	}
	t.Logf("batch %s aborted: %s, failed %d; alert %q to %v", b.ID, b.Status, b.Counts.Failed, alerts[0].Subject, alerts[0].To)
}

// poisonExecutionEvent: an event the workflow function cannot read fails three times
// (Lambda's retries) and lands in the function's on-failure destination, the alarmed
// WorkflowFailures queue, as Lambda's invocation record.
func poisonExecutionEvent(t *testing.T, h *deployed.Harness) {
	q, ok := h.Deploy.Queues["WorkflowFailures"]
	if url, dest := h.Deploy.OnFailure("WorkflowFunction"); !ok || !dest || url != q.Url {
		t.Fatalf("WorkflowFunction's on-failure destination %q, the WorkflowFailures queue %+v", url, q)
	}
	sm := h.Deploy.StateMachines["IssuanceStateMachine"]
	ev, _ := json.Marshal(map[string]any{"version": "0", "id": "poison", "detail-type": "Step Functions Execution Status Change",
		"source": "aws.states", "account": h.Deploy.Account, "region": h.Deploy.Region, "time": time.Now().UTC().Format(time.RFC3339),
		"resources": []string{}, "detail": map[string]any{"stateMachineArn": sm.Arn, "status": "FAILED", "startDate": "yesterday"}})
	if n, err := h.Events.Put(context.Background(), ev); err != nil || n != 1 {
		t.Fatalf("Put: %d targets, %v", n, err)
	}
	h.Events.Wait()
	msgs, err := h.SQS.Receive(context.Background(), q.Url)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d messages in WorkflowFailures, want 1", len(msgs))
	}
	var rec struct {
		RequestContext struct {
			Condition              string `json:"condition"`
			ApproximateInvokeCount int    `json:"approximateInvokeCount"`
		} `json:"requestContext"`
		RequestPayload struct {
			ID string `json:"id"`
		} `json:"requestPayload"`
	}
	if err := json.Unmarshal([]byte(msgs[0]), &rec); err != nil || rec.RequestContext.Condition != "RetriesExhausted" || rec.RequestPayload.ID != "poison" {
		t.Errorf("dead letter %s (%v); want Lambda's record of the poison event", msgs[0], err)
	}
	// The harness records the failed delivery as an error of the run; this one is expected.
	h.ForgetErrors(func(err error) bool { return strings.Contains(err.Error(), "WorkflowFunctionExecutionEnded") })
}

// noDeadLetters: after the scenario (its failure paths included, the poison event taken off)
// no asynchronous invocation ended in a dead-letter queue.
func noDeadLetters(t *testing.T, h *deployed.Harness) {
	h.Events.Wait()
	if len(h.Deploy.Queues) < 4 {
		t.Fatalf("queues %v, want the four dead-letter queues", h.Deploy.Queues)
	}
	for id, q := range h.Deploy.Queues {
		msgs, err := h.SQS.Receive(context.Background(), q.Url)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			t.Errorf("%s holds %s", id, m)
		}
	}
}
