package mail

import (
	"context"
	"fmt"
	"math"

	"golang.org/x/time/rate"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Pacer limits how many messages a process sends per second. One Pacer is shared by all the
// goroutines of a process that send through the same account (a token bucket with a burst
// of one, so sends are spread evenly rather than bunched at the start of each second).
// A Pacer is safe for concurrent use; the zero rate or a negative one means no limit.
type Pacer struct {
	lim *rate.Limiter
}

// NewPacer returns a pacer allowing perSecond sends a second (no limit when perSecond <= 0).
func NewPacer(perSecond float64) *Pacer {
	return &Pacer{lim: rate.NewLimiter(limit(perSecond), 1)}
}

func limit(perSecond float64) rate.Limit {
	if perSecond <= 0 || math.IsInf(perSecond, 1) || math.IsNaN(perSecond) {
		return rate.Inf
	}
	return rate.Limit(perSecond)
}

// SetRate changes the rate; goroutines already waiting adopt it for their next token.
func (p *Pacer) SetRate(perSecond float64) { p.lim.SetLimit(limit(perSecond)) }

// Rate returns the current rate in sends per second (+Inf when unlimited).
func (p *Pacer) Rate() float64 {
	if l := p.lim.Limit(); l != rate.Inf {
		return float64(l)
	}
	return math.Inf(1)
}

// Wait blocks until the caller may send one message, or the context ends (KindUnavailable
// wrapping the context's error).
func (p *Pacer) Wait(ctx context.Context) error {
	if err := p.lim.Wait(ctx); err != nil {
		e := credbatch.Errorf(credbatch.KindUnavailable, "waiting for the send rate: %v", err)
		e.Err = fmt.Errorf("pacer wait: %w", err)
		return e
	}
	return nil
}
