package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// t0 is the suite's reference time; every fixture time is t0 plus whole milliseconds.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

// wantKind fails the test unless err carries the kind.
func wantKind(t *testing.T, err error, want credbatch.Kind, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got no error, want %s", what, want)
	}
	if got := credbatch.ErrorKind(err); got != want {
		t.Fatalf("%s: got kind %s (%v), want %s", what, got, err, want)
	}
}

// must fails the test on an error.
func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// diff fails the test when got and want differ, printing both as JSON-ish text.
func diff(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %s\n want %s", what, show(got), show(want))
	}
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// utc strips monotonic readings and locations so that equal instants compare equal.
func utc(ts time.Time) time.Time {
	if ts.IsZero() {
		return time.Time{}
	}
	return ts.UTC().Round(0)
}

func normMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func normDefinition(d credbatch.Definition) credbatch.Definition {
	d.CreatedAt = time.Time{}
	if len(d.Attributes) == 0 {
		d.Attributes = nil
	}
	for i := range d.Attributes {
		if len(d.Attributes[i].Choices) == 0 {
			d.Attributes[i].Choices = nil
		}
	}
	return d
}

// normBatch clears the store-managed UpdatedAt and folds empty collections to nil.
func normBatch(b credbatch.Batch) credbatch.Batch {
	b.UpdatedAt = time.Time{}
	b.CreatedAt = utc(b.CreatedAt)
	b.CompletedAt = utc(b.CompletedAt)
	if len(b.Columns) == 0 {
		b.Columns = nil
	}
	if len(b.Definitions) == 0 {
		b.Definitions = nil
	}
	if len(b.Findings) == 0 {
		b.Findings = nil
	}
	if len(b.Options.Mapping) == 0 {
		b.Options.Mapping = nil
	}
	return b
}

func normRow(r credbatch.Row) credbatch.Row {
	r.UpdatedAt = time.Time{}
	r.Attributes = normMap(r.Attributes)
	if len(r.Cells) == 0 {
		r.Cells = nil
	}
	if len(r.Findings) == 0 {
		r.Findings = nil
	}
	return r
}

func normCredential(c credbatch.Credential) credbatch.Credential {
	c.UpdatedAt = time.Time{}
	c.Attributes = normMap(c.Attributes)
	c.RevokedAt = utc(c.RevokedAt)
	c.SentAt = utc(c.SentAt)
	c.DeliveredAt = utc(c.DeliveredAt)
	c.IssuedAt = utc(c.IssuedAt)
	return c
}

func normDelivery(d credbatch.Delivery) credbatch.Delivery {
	d.At = utc(d.At)
	d.RecordedAt = utc(d.RecordedAt)
	return d
}

func normSuppression(s credbatch.Suppression) credbatch.Suppression {
	s.At = utc(s.At)
	return s
}

func mapSlice[T any](in []T, f func(T) T) []T {
	out := make([]T, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// race runs fn in n goroutines released at the same moment and returns their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = fn(i)
		}()
	}
	start.Done()
	done.Wait()
	return errs
}

// oneWinner checks that exactly one racer succeeded and every other got KindConflict.
func oneWinner(t *testing.T, what string, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("%s: racers %d and %d both won", what, winner, i)
		case err == nil:
			winner = i
		case credbatch.ErrorKind(err) != credbatch.KindConflict:
			t.Fatalf("%s: racer %d: got kind %s (%v), want conflict", what, i, credbatch.ErrorKind(err), err)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: no racer won (%d conflicts)", what, len(errs))
	}
	return winner
}

// collect pages through a listing with the page size, failing on a repeated cursor.
func collect[T any](t *testing.T, what string, limit int, list func(cursor string, limit int) (credbatch.Page[T], error)) []T {
	t.Helper()
	var all []T
	cursor := ""
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		p, err := list(cursor, limit)
		if err != nil {
			t.Fatalf("%s: page %d: %v", what, pages, err)
		}
		if limit > 0 && len(p.Items) > limit {
			t.Fatalf("%s: page %d has %d items, limit %d", what, pages, len(p.Items), limit)
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			return all
		}
		if seen[p.Next] {
			t.Fatalf("%s: cursor %q repeated", what, p.Next)
		}
		seen[p.Next] = true
		cursor = p.Next
		if pages > 100_000 {
			t.Fatalf("%s: too many pages", what)
		}
	}
}

// longValue is a 4 KB attribute value mixing scripts, emoji and combining marks.
func longValue() string {
	var b strings.Builder
	unit := "Zoë Ñandú — 日本語 ✓ 🎓 e\u0301 \"quoted\" 'single' <tag> & \\ % _ \t\n"
	for b.Len() < 4096 {
		b.WriteString(unit)
	}
	return b.String()
}
