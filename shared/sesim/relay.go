package sesim

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Relay delivers the simulated events of each sent message to a handler (the feedback
// service's Handle) on its own goroutine, one notification per call as SNS invokes Lambda,
// retrying failed calls as Lambda retries asynchronous invocations. It must run after the
// mailer has returned: the issue worker records "sent" only then, and the feedback service
// refuses (retryably) to overtake that write. Its OnSend fits outbox.Options.OnSend.
type Relay struct {
	Handle   func(ctx context.Context, ev events.SNSEvent) error
	Delay    time.Duration    // before the first call and between retries (default 100ms)
	Attempts int              // calls per notification (default 5)
	Now      func() time.Time // the send time of the events (default time.Now)
	Log      *slog.Logger     // default slog.Default()

	wg sync.WaitGroup
}

// OnSend simulates SES's events for a message the mailer accepted under messageID.
func (r *Relay) OnSend(ctx context.Context, msg credbatch.Message, messageID string) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	recs := Events(msg, messageID, now())
	if len(recs) == 0 || r.Handle == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for _, rec := range recs {
			r.deliver(ctx, rec)
		}
	}()
}

func (r *Relay) deliver(ctx context.Context, rec events.SNSEventRecord) {
	delay, attempts := r.Delay, r.Attempts
	if delay <= 0 {
		delay = 100 * time.Millisecond
	}
	if attempts <= 0 {
		attempts = 5
	}
	log := r.Log
	if log == nil {
		log = slog.Default()
	}
	var err error
	for i := range attempts {
		time.Sleep(delay * time.Duration(i+1))
		if err = r.Handle(ctx, events.SNSEvent{Records: []events.SNSEventRecord{rec}}); err == nil {
			return
		}
	}
	log.Error("simulated SES event dropped after retries", "sns_message_id", rec.SNS.MessageID, "err", err)
}

// Wait blocks until every event handed over so far has been delivered or dropped.
func (r *Relay) Wait() { r.wg.Wait() }
