package deployed

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Notifier delivers the bucket's notifications as S3 does: every object version created
// in the bucket becomes an ObjectCreated:Put event to each LambdaConfiguration whose event
// and key filter (prefix, suffix) match, invoked asynchronously. It finds new versions by
// listing the bucket (moto) at an interval.
type S3Notifier struct {
	S3      *s3.Client
	Bucket  Bucket
	Region  string
	Runner  *Runner
	Deploy  *Deployment
	Log     *slog.Logger
	Every   time.Duration
	OnError func(error)

	mu        sync.Mutex
	seen      map[string]bool
	delivered map[string]int // by key: events delivered
	wg        sync.WaitGroup
}

// Delivered returns how many events were delivered for key.
func (n *S3Notifier) Delivered(key string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.delivered[key]
}

// Total returns the number of events delivered.
func (n *S3Notifier) Total() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	t := 0
	for _, v := range n.delivered {
		t += v
	}
	return t
}

// Run polls until ctx ends.
func (n *S3Notifier) Run(ctx context.Context) {
	if n.Every <= 0 {
		n.Every = 200 * time.Millisecond
	}
	for {
		if err := n.Poll(ctx); err != nil && ctx.Err() == nil && n.OnError != nil {
			n.OnError(err)
		}
		select {
		case <-ctx.Done():
			n.wg.Wait()
			return
		case <-time.After(n.Every):
		}
	}
}

// Poll delivers the events of the versions created since the last poll.
func (n *S3Notifier) Poll(ctx context.Context) error {
	p := s3.NewListObjectVersionsPaginator(n.S3, &s3.ListObjectVersionsInput{Bucket: aws.String(n.Bucket.Name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", n.Bucket.Name, err)
		}
		for _, v := range page.Versions {
			id := aws.ToString(v.Key) + "\x00" + aws.ToString(v.VersionId) + "\x00" + aws.ToString(v.ETag)
			n.mu.Lock()
			if n.seen == nil {
				n.seen, n.delivered = map[string]bool{}, map[string]int{}
			}
			old := n.seen[id]
			n.seen[id] = true
			n.mu.Unlock()
			if old {
				continue
			}
			rec := n.record(aws.ToString(v.Key), aws.ToInt64(v.Size), strings.Trim(aws.ToString(v.ETag), `"`), aws.ToString(v.VersionId), aws.ToTime(v.LastModified))
			n.Deliver(ctx, rec)
		}
	}
	return nil
}

func (n *S3Notifier) record(key string, size int64, etag, version string, at time.Time) events.S3EventRecord {
	if version == "null" {
		version = ""
	}
	return events.S3EventRecord{
		EventVersion: "2.1", EventSource: "aws:s3", AWSRegion: n.Region, EventTime: at.UTC(), EventName: "ObjectCreated:Put",
		PrincipalID:       events.S3UserIdentity{PrincipalID: "AWS:AIDATESTHARNESS"},
		RequestParameters: events.S3RequestParameters{SourceIPAddress: "127.0.0.1"},
		ResponseElements:  map[string]string{"x-amz-request-id": "HARNESS", "x-amz-id-2": "HARNESS"},
		S3: events.S3Entity{SchemaVersion: "1.0",
			Bucket: events.S3Bucket{Name: n.Bucket.Name, OwnerIdentity: events.S3UserIdentity{PrincipalID: "A3HARNESS"}, Arn: n.Bucket.Arn},
			// S3 puts the key URL-encoded into the event (a space becomes "+").
			Object: events.S3Object{Key: url.QueryEscape(key), Size: size, ETag: etag, VersionID: version,
				Sequencer: fmt.Sprintf("%016X", at.UnixNano())}},
	}
}

// Matches reports whether the notification configuration sends an ObjectCreated event for
// key to a function, and returns the matching function ARNs.
func (n *S3Notifier) Matches(key string) []string {
	var out []string
	for _, c := range n.Bucket.Notifications.LambdaConfigurations {
		if c.Event != "s3:ObjectCreated:*" && c.Event != "s3:ObjectCreated:Put" {
			continue
		}
		ok := true
		for _, r := range c.Filter.S3Key.Rules {
			switch strings.ToLower(r.Name) {
			case "prefix":
				ok = ok && strings.HasPrefix(key, r.Value)
			case "suffix":
				ok = ok && strings.HasSuffix(key, r.Value)
			}
		}
		if ok {
			out = append(out, c.Function)
		}
	}
	return out
}

// Deliver sends rec to each function the configuration names for its key (again, for a
// duplicate delivery: S3 delivers at least once).
func (n *S3Notifier) Deliver(ctx context.Context, rec events.S3EventRecord) {
	key, _ := url.QueryUnescape(rec.S3.Object.Key)
	for _, arn := range n.Matches(key) {
		id, ok := n.Deploy.FunctionByArn(arn)
		if !ok {
			if n.OnError != nil {
				n.OnError(fmt.Errorf("bucket notification names %s, which is no function of the stack", arn))
			}
			continue
		}
		rec.S3.ConfigurationID = "notification-" + id
		b, _ := json.Marshal(events.S3Event{Records: []events.S3EventRecord{rec}})
		n.mu.Lock()
		if n.delivered == nil {
			n.seen, n.delivered = map[string]bool{}, map[string]int{}
		}
		n.delivered[key]++
		n.mu.Unlock()
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := n.Runner.InvokeAsync(ctx, id, b); err != nil && n.OnError != nil && ctx.Err() == nil {
				n.OnError(fmt.Errorf("S3 event for %s to %s: %w", key, id, err))
			}
		}()
	}
}

// Wait waits for the deliveries in flight.
func (n *S3Notifier) Wait() { n.wg.Wait() }

// Redeliver delivers the ObjectCreated event of an existing object version again, as S3's
// at-least-once delivery may.
func (n *S3Notifier) Redeliver(ctx context.Context, key string, size int64, etag, version string, at time.Time) {
	n.Deliver(ctx, n.record(key, size, etag, version, at))
}
