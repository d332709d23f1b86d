package deployed

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// EventBus is EventBridge's default bus as the stack's rules see it: an event that matches a
// rule's pattern goes to each of its Lambda targets, invoked asynchronously as EventBridge
// invokes Lambda (Lambda's own retries, then the function's on-failure destination). When
// the invocation itself fails (the function is missing) the event goes to the target's
// dead-letter queue. Patterns are matched for what this template uses: exact string values
// in lists, nested objects.
type EventBus struct {
	Deploy  *Deployment
	Runner  *Runner
	OnError func(error)

	mu        sync.Mutex
	delivered map[string]int // by rule logical id
	wg        sync.WaitGroup
}

// Put delivers one event to every rule it matches and returns how many targets got it.
func (b *EventBus) Put(ctx context.Context, event []byte) (int, error) {
	var ev any
	if err := json.Unmarshal(event, &ev); err != nil {
		return 0, fmt.Errorf("event is not JSON: %w", err)
	}
	n := 0
	for id, r := range b.Deploy.Rules {
		if r.State != "" && r.State != "ENABLED" {
			continue
		}
		var pattern any
		if err := json.Unmarshal(r.EventPattern, &pattern); err != nil {
			return n, fmt.Errorf("rule %s: pattern: %w", id, err)
		}
		if !matches(pattern, ev) {
			continue
		}
		for _, t := range r.Targets {
			fn, ok := b.Deploy.FunctionByArn(t.Arn)
			if !ok {
				return n, fmt.Errorf("rule %s targets %s, which is no function of the stack", id, t.Arn)
			}
			n++
			b.mu.Lock()
			if b.delivered == nil {
				b.delivered = map[string]int{}
			}
			b.delivered[id]++
			b.mu.Unlock()
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				if err := b.Runner.InvokeAsync(context.WithoutCancel(ctx), fn, event); err != nil && b.OnError != nil {
					b.OnError(fmt.Errorf("rule %s -> %s: %w", id, fn, err))
				}
			}()
		}
	}
	return n, nil
}

// Wait waits for the deliveries in flight.
func (b *EventBus) Wait() { b.wg.Wait() }

// Delivered returns the events delivered per rule.
func (b *EventBus) Delivered() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]int{}
	for k, v := range b.delivered {
		out[k] = v
	}
	return out
}

// matches reports whether an event matches an EventBridge pattern: every field the pattern
// names must be present; a list of values matches one of them, an object recurses.
func matches(pattern, event any) bool {
	switch p := pattern.(type) {
	case map[string]any:
		e, ok := event.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range p {
			if !matches(v, e[k]) {
				return false
			}
		}
		return true
	case []any:
		for _, want := range p {
			if _, isObj := want.(map[string]any); isObj {
				return false // content filters (prefix, anything-but, ...) are not used here
			}
			if fmt.Sprint(want) == fmt.Sprint(event) && event != nil {
				return true
			}
		}
		return false
	}
	return false
}

// executionEvent is the "Step Functions Execution Status Change" event Step Functions sends
// to EventBridge when an execution ends (the shape of AWS's documented examples).
func executionEvent(machineArn, execArn, name, status, input, output, errName, cause string, start, stop time.Time) []byte {
	parts := strings.Split(machineArn, ":") // arn:aws:states:<region>:<account>:stateMachine:<name>
	region, account := parts[3], parts[4]
	var id [16]byte
	_, _ = rand.Read(id[:])
	nullable := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	detail := map[string]any{
		"executionArn": execArn, "stateMachineArn": machineArn, "name": name, "status": status,
		"startDate": start.UnixMilli(), "stopDate": stop.UnixMilli(),
		"input": input, "inputDetails": map[string]bool{"included": true},
		"output": nullable(output), "outputDetails": nil,
		"error": nullable(errName), "cause": nullable(cause),
		"redriveCount": 0, "redriveDate": nil, "redriveStatus": "NOT_REDRIVABLE", "redriveStatusReason": "Execution is " + status,
	}
	if output != "" {
		detail["outputDetails"] = map[string]bool{"included": true}
	}
	if status != "SUCCEEDED" {
		detail["redriveStatus"], detail["redriveStatusReason"] = "REDRIVABLE", "Execution is "+status+" and can be redriven"
	}
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": fmt.Sprintf("%x-%x-%x-%x-%x", id[:4], id[4:6], id[6:8], id[8:10], id[10:]),
		"detail-type": "Step Functions Execution Status Change", "source": "aws.states",
		"account": account, "time": stop.UTC().Format(time.RFC3339), "region": region,
		"resources": []string{execArn}, "detail": detail,
	})
	return b
}

// SQS is the part of moto's SQS API (JSON protocol) the harness uses: the on-failure
// destinations' messages, sent as Lambda sends them, and read back by the test.
type SQS struct{ Endpoint string }

func (q SQS) call(ctx context.Context, op string, in, out any) error {
	body, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.Endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS."+op)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("sqs %s: %w", op, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sqs %s: %s: %s", op, resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Send puts one message on the queue.
func (q SQS) Send(ctx context.Context, url, body string) error {
	return q.call(ctx, "SendMessage", map[string]string{"QueueUrl": url, "MessageBody": body}, nil)
}

// Receive takes up to 10 messages off the queue (and deletes them).
func (q SQS) Receive(ctx context.Context, url string) ([]string, error) {
	var out struct {
		Messages []struct{ Body, ReceiptHandle string }
	}
	if err := q.call(ctx, "ReceiveMessage", map[string]any{"QueueUrl": url, "MaxNumberOfMessages": 10}, &out); err != nil {
		return nil, err
	}
	var bodies []string
	for _, m := range out.Messages {
		bodies = append(bodies, m.Body)
		if err := q.call(ctx, "DeleteMessage", map[string]string{"QueueUrl": url, "ReceiptHandle": m.ReceiptHandle}, nil); err != nil {
			return bodies, err
		}
	}
	return bodies, nil
}

// OnFailure is where an asynchronous invocation of a function that failed after its
// retries goes: the SQS queue URL of its EventInvokeConfig's on-failure destination.
func (d *Deployment) OnFailure(id string) (string, bool) {
	f := d.Functions[id]
	for _, c := range d.EventInvokeConfigs {
		if c.FunctionName != f.Name && c.FunctionName != f.Arn {
			continue
		}
		for _, q := range d.Queues {
			if q.Arn != "" && q.Arn == c.DestinationConfig.OnFailure.Destination {
				return q.Url, true
			}
		}
	}
	return "", false
}

// failureRecord is the invocation record Lambda sends to an on-failure destination.
func failureRecord(fn Function, payload []byte, err error, attempts int) string {
	var reqID [16]byte
	_, _ = rand.Read(reqID[:])
	resp := map[string]any{"errorMessage": err.Error(), "errorType": "Error"}
	if fe, ok := err.(FunctionError); ok {
		resp = map[string]any{"errorMessage": fe.Message, "errorType": fe.Type}
	}
	var req any = string(payload)
	var v any
	if json.Unmarshal(payload, &v) == nil {
		req = v
	}
	b, _ := json.Marshal(map[string]any{
		"version": "1.0", "timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"requestContext": map[string]any{"requestId": fmt.Sprintf("%x", reqID), "functionArn": fn.Arn + ":$LATEST",
			"condition": "RetriesExhausted", "approximateInvokeCount": attempts},
		"requestPayload":  req,
		"responseContext": map[string]any{"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
		"responsePayload": resp,
	})
	return string(b)
}
