package mail

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

func TestPacerLimitsRate(t *testing.T) {
	tests := []struct {
		name       string
		rate       float64
		goroutines int
		perG       int
	}{
		{name: "one sender", rate: 200, goroutines: 1, perG: 21},
		{name: "concurrent senders share the bucket", rate: 200, goroutines: 4, perG: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPacer(tt.rate)
			n := tt.goroutines * tt.perG
			start := time.Now()
			var wg sync.WaitGroup
			for range tt.goroutines {
				wg.Go(func() {
					for range tt.perG {
						if err := p.Wait(context.Background()); err != nil {
							t.Errorf("Wait: %v", err)
						}
					}
				})
			}
			wg.Wait()
			got := time.Since(start)
			// A burst of one: the first send is immediate, each further one waits 1/rate.
			want := time.Duration(float64(n-1) / tt.rate * float64(time.Second))
			if got < want-5*time.Millisecond {
				t.Errorf("%d sends at %v/s took %v, want at least %v", n, tt.rate, got, want)
			}
		})
	}
}

func TestPacerSetRate(t *testing.T) {
	p := NewPacer(1) // one a second: a second Wait would take 1s
	if err := p.Wait(context.Background()); err != nil {
		t.Fatalf("first Wait: %v", err)
	}
	p.SetRate(0) // unlimited
	if got := p.Rate(); !math.IsInf(got, 1) {
		t.Errorf("Rate() = %v, want +Inf", got)
	}
	start := time.Now()
	for range 100 {
		if err := p.Wait(context.Background()); err != nil {
			t.Fatalf("Wait: %v", err)
		}
	}
	if got := time.Since(start); got > 500*time.Millisecond {
		t.Errorf("100 unlimited sends took %v", got)
	}
	p.SetRate(14)
	if got := p.Rate(); got != 14 {
		t.Errorf("Rate() = %v, want 14", got)
	}
}

func TestPacerWaitCancelled(t *testing.T) {
	p := NewPacer(0.1) // one every ten seconds
	if err := p.Wait(context.Background()); err != nil {
		t.Fatalf("first Wait: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := p.Wait(ctx)
	if got := credbatch.ErrorKind(err); got != credbatch.KindUnavailable {
		t.Fatalf("kind = %q (err %v), want %q", got, err, credbatch.KindUnavailable)
	}
}
