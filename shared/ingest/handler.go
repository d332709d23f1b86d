package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

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
		if err != nil {
			log.Error("ingest failed", "key", key, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			continue
		}
		log.Info("ingested", "key", key, "batch_id", b.ID, "status", b.Status)
	}
	return errors.Join(errs...)
}
