package statuslist

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// Signer signs a status list credential in its two forms (credential.Signer): JSON-LD with
// an embedded Data Integrity proof, and a VC-JWT.
type Signer interface {
	Secure(doc any, created time.Time) ([]byte, error)
	SignJWT(doc any) (string, error)
}

// PublishStore is the part of credbatch.Store a Publisher uses.
type PublishStore interface {
	RevokedLister
	GetStatusList(ctx context.Context, n int) (credbatch.StatusList, error)
	PutStatusList(ctx context.Context, l credbatch.StatusList) error
}

// Publisher signs status list credentials where they change (revocations, and the first
// issuance into a list) and stores them, so that the public routes only read what it
// stored and never need the signing key. Each publication is a compare-and-swap on the
// list's version: concurrent revocations into one list are retried on the list the other
// one published, so none is lost.
type Publisher struct {
	Store   PublishStore
	Signer  Signer
	Issuer  string             // the issuer id of the lists (credential.Issuer.ID())
	ListURL func(n int) string // the URL and id of list n (credential.Issuer.StatusListURLFor)
	Clock   credbatch.Clock    // default time.Now
}

// maxPublishAttempts bounds the compare-and-swap retries of one publication: each conflict
// means another publisher stored a newer version, so the retries only run out under a
// storm of revocations into one list.
const maxPublishAttempts = 50

// Revoke sets the entries of the credentials with these global status indexes in their
// lists and publishes every list that changed. An entry set already changes nothing (a
// retried revocation publishes nothing). KindInvalid for a negative index; KindBusy when a
// list kept changing under it.
func (p *Publisher) Revoke(ctx context.Context, global ...int) error {
	byList := map[int][]int{}
	for _, g := range global {
		if g < 0 {
			return credbatch.Errorf(credbatch.KindInvalid, "status index %d is negative", g)
		}
		byList[g/Size+1] = append(byList[g/Size+1], g%Size)
	}
	lists := make([]int, 0, len(byList))
	for n := range byList {
		lists = append(lists, n)
	}
	slices.Sort(lists)
	for _, n := range lists {
		if err := p.publish(ctx, n, byList[n]); err != nil {
			return err
		}
	}
	return nil
}

// Ensure publishes list n when it was never published (before the first credential with an
// entry in it is stored, so that every credential's list exists).
func (p *Publisher) Ensure(ctx context.Context, n int) error {
	if n < 1 {
		return credbatch.Errorf(credbatch.KindInvalid, "status list %d does not exist: lists are numbered from 1", n)
	}
	return p.publish(ctx, n, nil)
}

// publish sets the entries in list n and stores the signed list when it changed or was never
// stored. A list stored for the first time starts from the store's revoked credentials, so
// revocations made before lists were stored are kept.
func (p *Publisher) publish(ctx context.Context, n int, entries []int) error {
	for attempt := range maxPublishAttempts {
		if attempt > 0 {
			// Another publisher won: back off a little (full jitter) and read its version.
			d := time.Duration(rand.Int64N(int64(min(attempt, 10)) * int64(5*time.Millisecond)))
			select {
			case <-ctx.Done():
				return &credbatch.Error{Kind: credbatch.KindUnavailable, Message: fmt.Sprintf("publish status list %d: %v", n, ctx.Err()), Err: ctx.Err()}
			case <-time.After(d):
			}
		}
		cur, err := p.Store.GetStatusList(ctx, n)
		var list *List
		switch {
		case err == nil:
			if list, err = Decode(cur.EncodedList); err != nil {
				return credbatch.Errorf(credbatch.KindInternal, "stored status list %d: %s", n, credbatch.ErrorMessage(err))
			}
		case credbatch.IsKind(err, credbatch.KindNotFound):
			if list, err = FromStoreList(ctx, p.Store, n); err != nil {
				return err
			}
		default:
			return fmt.Errorf("load status list %d: %w", n, err)
		}
		changed := cur.Version == 0
		for _, i := range entries {
			set, err := list.Get(i)
			if err != nil {
				return err
			}
			if !set {
				changed = true
				_ = list.Set(i, true) // in range: Get checked it
			}
		}
		if !changed {
			return nil
		}
		next, err := p.sign(n, cur.Version+1, list)
		if err != nil {
			return err
		}
		err = p.Store.PutStatusList(ctx, next)
		if !credbatch.IsKind(err, credbatch.KindConflict) {
			if err != nil {
				return fmt.Errorf("publish status list %d: %w", n, err)
			}
			return nil
		}
	}
	return credbatch.Errorf(credbatch.KindBusy, "status list %d changed %d times while it was being published; revoke again", n, maxPublishAttempts)
}

// sign builds version v of list n and signs it in both forms.
func (p *Publisher) sign(n, v int, list *List) (credbatch.StatusList, error) {
	if p.Signer == nil {
		return credbatch.StatusList{}, credbatch.Errorf(credbatch.KindInternal, "status list %d cannot be published: no signer is configured", n)
	}
	enc, err := list.Encode()
	if err != nil {
		return credbatch.StatusList{}, err
	}
	now := time.Now
	if p.Clock != nil {
		now = p.Clock
	}
	at := now().UTC().Truncate(time.Second)
	doc := Credential(p.Issuer, p.ListURL(n), enc, at)
	ld, err := p.Signer.Secure(doc, at)
	if err != nil {
		return credbatch.StatusList{}, fmt.Errorf("sign status list %d: %w", n, err)
	}
	jwt, err := p.Signer.SignJWT(doc)
	if err != nil {
		return credbatch.StatusList{}, fmt.Errorf("sign status list %d: %w", n, err)
	}
	return credbatch.StatusList{Number: n, Version: v, EncodedList: enc, JSONLD: string(ld), JWT: jwt, UpdatedAt: at}, nil
}
