package sesim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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
//
// With Dir set the events are durable, as SES's are: OnSend writes a message's events to a
// file in Dir before it returns, each delivered event is taken off the file, and Resume
// (called when the stack opens) delivers what a killed process left. Delivery is at least
// once; the feedback service counts an SNS message id once.
type Relay struct {
	Handle   func(ctx context.Context, ev events.SNSEvent) error
	Delay    time.Duration    // before the first call and between retries (default 100ms)
	Attempts int              // calls per notification (default 5)
	Now      func() time.Time // the send time of the events (default time.Now)
	Log      *slog.Logger     // default slog.Default()
	Dir      string           // where undelivered events are kept ("" = in memory only)

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
	path := ""
	if r.Dir != "" {
		sum := sha256.Sum256([]byte(messageID))
		path = filepath.Join(r.Dir, hex.EncodeToString(sum[:12])+".json")
		if err := r.save(path, recs); err != nil {
			r.log().Error("simulated SES events not saved; they are delivered from memory only", "message_id", messageID, "err", err)
			path = ""
		}
	}
	r.start(ctx, path, recs)
}

// start delivers recs in order on a goroutine, taking each one off the file at path (when
// set) once it is delivered or dropped, and removing the file at the end.
func (r *Relay) start(ctx context.Context, path string, recs []events.SNSEventRecord) {
	ctx = context.WithoutCancel(ctx)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for i, rec := range recs {
			r.deliver(ctx, rec)
			if path == "" {
				continue
			}
			var err error
			if rest := recs[i+1:]; len(rest) > 0 {
				err = r.save(path, rest)
			} else if err = os.Remove(path); errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
			if err != nil {
				r.log().Warn("simulated SES events: could not update the spool file (an event may come twice after a restart)", "path", path, "err", err)
			}
		}
	}()
}

// save writes recs to path atomically (a temporary file renamed over it), so that a process
// killed while writing leaves the old list or the new one, never half of one.
func (r *Relay) save(path string, recs []events.SNSEventRecord) error {
	data, err := json.Marshal(recs)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(r.Dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// Resume delivers the events a stopped process left in Dir (each message's in order, on
// goroutines, as OnSend does). It returns how many events it found.
func (r *Relay) Resume(ctx context.Context) (int, error) {
	if r.Dir == "" || r.Handle == nil {
		return 0, nil
	}
	entries, err := os.ReadDir(r.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("simulated SES events: %w", err)
	}
	n := 0
	for _, e := range entries {
		path := filepath.Join(r.Dir, e.Name())
		if strings.HasPrefix(e.Name(), ".tmp-") { // a write cut off by the stop; its old list was kept
			os.Remove(path)
			continue
		}
		if e.IsDir() || filepath.Ext(e.Name()) != ".json" {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return n, fmt.Errorf("simulated SES events: %w", err)
		}
		var recs []events.SNSEventRecord
		if err := json.Unmarshal(data, &recs); err != nil {
			r.log().Error("simulated SES events: unreadable spool file left alone", "path", path, "err", err)
			continue
		}
		n += len(recs)
		r.start(ctx, path, recs)
	}
	if n > 0 {
		r.log().Info("simulated SES events of a stopped process resumed", "events", n)
	}
	return n, nil
}

func (r *Relay) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

func (r *Relay) deliver(ctx context.Context, rec events.SNSEventRecord) {
	delay, attempts := r.Delay, r.Attempts
	if delay <= 0 {
		delay = 100 * time.Millisecond
	}
	if attempts <= 0 {
		attempts = 5
	}
	log := r.log()
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
