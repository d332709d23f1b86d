package credbatch

import (
	"context"
	"iter"
)

// All yields every item of a paged listing in order, following cursors: list returns the
// page after cursor ("" for the first). A listing error is yielded once, as the last pair;
// breaking out of the loop stops the listing.
func All[T any](list func(cursor string) (Page[T], error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		cursor := ""
		for {
			p, err := list(cursor)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range p.Items {
				if !yield(it, nil) {
					return
				}
			}
			if p.Next == "" {
				return
			}
			cursor = p.Next
		}
	}
}

// BatchCredentials yields every credential of a batch in row order, in pages of MaxPageSize.
func BatchCredentials(ctx context.Context, s Store, batchID string) iter.Seq2[Credential, error] {
	return All(func(cursor string) (Page[Credential], error) {
		return s.ListCredentialsByBatch(ctx, batchID, cursor, MaxPageSize)
	})
}

// BatchRows yields every row of a batch that matches f (its Cursor and Limit are ignored), in
// row order, in pages of MaxPageSize.
func BatchRows(ctx context.Context, s Store, batchID string, f RowFilter) iter.Seq2[Row, error] {
	f.Limit = MaxPageSize
	return All(func(cursor string) (Page[Row], error) {
		f.Cursor = cursor
		return s.ListRows(ctx, batchID, f)
	})
}
