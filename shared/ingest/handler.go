package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// SweepRequest is the event the sweep schedule sends the ingest function (the schedule's
// Input in template.yaml).
type SweepRequest struct {
	Action string `json:"action"` // "sweep"
}

// Handle is the ingest Lambda's handler: an S3 event (HandleS3), or the sweep schedule's
// {"action":"sweep"} (Sweep). Anything else is logged and ignored.
func (s *Service) Handle(ctx context.Context, raw json.RawMessage) error {
	var req SweepRequest
	if err := json.Unmarshal(raw, &req); err == nil && req.Action == "sweep" {
		res, err := s.Sweep(ctx)
		s.log().Info("sweep done", "checked", res.Checked, "resumed", res.Resumed, "finished", res.Finished,
			"abandoned", res.Abandoned, "busy", res.Busy, "failed", res.Failed)
		return err
	}
	var ev events.S3Event
	if err := json.Unmarshal(raw, &ev); err != nil || len(ev.Records) == 0 {
		// Retrying an event of another shape (S3's s3:TestEvent) cannot help.
		s.log().Warn("ignoring an event that is neither an S3 event nor a sweep request", "bytes", len(raw))
		return nil
	}
	return s.HandleS3(ctx, ev)
}

// HandleS3 is the ingest Lambda's handler: every ObjectCreated record under uploads/ becomes
// a batch. It returns an error when any record could not be processed, so that Lambda retries
// the event; ingestion is idempotent, so records already done are not done twice.
func (s *Service) HandleS3(ctx context.Context, ev events.S3Event) error {
	log := s.log()
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		log = log.With("request_id", lc.AwsRequestID)
	}
	var errs []error
	for _, rec := range ev.Records {
		if !strings.HasPrefix(rec.EventName, "ObjectCreated:") {
			log.Info("ignoring event", "event", rec.EventName)
			continue
		}
		key, err := KeyFromEvent(rec.S3.Object.Key)
		if err != nil {
			log.Error("bad key in event", "key", rec.S3.Object.Key, "err", err)
			continue // a malformed key will not get better on retry
		}
		if !strings.HasPrefix(key, UploadsPrefix) || strings.HasSuffix(key, "/") {
			log.Info("ignoring object outside uploads/", "key", key)
			continue
		}
		svc := *s
		svc.Log = log
		b, err := svc.Ingest(ctx, Object{Bucket: rec.S3.Bucket.Name, Key: key,
			VersionID: rec.S3.Object.VersionID, ETag: rec.S3.Object.ETag})
		if credbatch.ErrorCode(err) == CodeInProgress {
			// Fail the event so it comes back: if the other delivery crashed, the retry
			// (or the sweep) resumes the batch once the lease has expired.
			log.Warn("object is being ingested by another delivery; failing so the event is retried", "key", key, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			continue
		}
		if err != nil {
			log.Error("ingest failed", "key", key, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			continue
		}
		log.Info("ingested", "key", key, "batch_id", b.ID, "status", b.Status)
	}
	return errors.Join(errs...)
}
