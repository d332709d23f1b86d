package sesim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/credbatch/credbatch/shared/credbatch"
	"github.com/credbatch/credbatch/shared/sesim"
)

// TestRelayEventsSurviveAKill: a process is killed while its relay holds the events of 40
// sent messages (ten events delivered, every message's next one under way): with the
// events in memory only, 153-256 emails stayed sent forever after a kill -9. With Dir, the
// next process's Resume delivers every event the killed one had not, exactly once here,
// each message's in order, and leaves the spool empty.
func TestRelayEventsSurviveAKill(t *testing.T) {
	const messages, before = 40, 10
	dir := filepath.Join(t.TempDir(), "ses-events")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	var mu sync.Mutex
	delivered := map[string]int{} // SNS message id → deliveries, by both processes
	var order = map[string][]string{}
	record := func(ev events.SNSEvent) {
		for _, r := range ev.Records {
			delivered[r.SNS.MessageID]++
			var m struct {
				EventType string `json:"eventType"`
				Mail      struct {
					MessageID string `json:"messageId"`
				} `json:"mail"`
			}
			if err := json.Unmarshal([]byte(r.SNS.Message), &m); err != nil {
				t.Error(err)
			}
			order[m.Mail.MessageID] = append(order[m.Mail.MessageID], m.EventType)
		}
	}
	dead := make(chan struct{}) // the killed process: past ten events its handler never returns
	killed := &sesim.Relay{Dir: dir, Delay: time.Millisecond, Attempts: 1, Log: quiet, Now: func() time.Time { return now },
		Handle: func(_ context.Context, ev events.SNSEvent) error {
			mu.Lock()
			n := 0
			for _, c := range delivered {
				n += c
			}
			if n < before {
				record(ev)
				mu.Unlock()
				return nil
			}
			mu.Unlock()
			<-dead
			return errors.New("killed")
		}}
	t.Cleanup(func() { close(dead); killed.Wait() })
	var want []string
	for i := range messages {
		msg := credbatch.Message{From: "certs@example.org", To: []string{fmt.Sprintf("bounce+%d@simulator.amazonses.com", i)},
			Subject: "Your certificate", Tags: map[string]string{"credential_id": fmt.Sprint(i)}}
		id := fmt.Sprintf("m-%d", i)
		killed.OnSend(context.Background(), msg, id)
		for _, rec := range sesim.Events(msg, id, now) {
			want = append(want, rec.SNS.MessageID)
		}
	}
	if len(want) != 2*messages {
		t.Fatalf("%d events, want Send and Bounce for each message", len(want))
	}
	// Wait until the ten are through and the spool says so (the file update follows each
	// delivery).
	count := func() int {
		n := 0
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, f := range files {
			data, _ := os.ReadFile(f)
			var recs []events.SNSEventRecord
			json.Unmarshal(data, &recs)
			n += len(recs)
		}
		return n
	}
	for deadline := time.Now().Add(10 * time.Second); count() != 2*messages-before; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("spool holds %d events, want %d", count(), 2*messages-before)
		}
	}

	restarted := &sesim.Relay{Dir: dir, Delay: time.Millisecond, Log: quiet, Handle: func(_ context.Context, ev events.SNSEvent) error {
		mu.Lock()
		defer mu.Unlock()
		record(ev)
		return nil
	}}
	n, err := restarted.Resume(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	restarted.Wait()
	if n != 2*messages-before {
		t.Errorf("resumed %d events, want %d", n, 2*messages-before)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range want {
		if delivered[id] != 1 {
			t.Errorf("event %s delivered %d times, want once", id, delivered[id])
		}
	}
	for id, types := range order {
		if len(types) != 2 || types[0] != "Send" || types[1] != "Bounce" {
			t.Errorf("message %s: events %v, want Send then Bounce", id, types)
		}
	}
	if left := count(); left != 0 {
		t.Errorf("%d events left in the spool after the restart delivered them", left)
	}
}
