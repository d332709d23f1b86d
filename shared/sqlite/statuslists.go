package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/credbatch/credbatch/shared/credbatch"
)

// GetStatusList returns the published status list n; KindNotFound.
func (s *Store) GetStatusList(ctx context.Context, n int) (credbatch.StatusList, error) {
	var body string
	err := s.queryRow(ctx, `SELECT body FROM status_lists WHERE number = ?`, n).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return credbatch.StatusList{}, credbatch.NotFound("status list", fmt.Sprint(n))
	}
	if err != nil {
		return credbatch.StatusList{}, dbErr(fmt.Sprintf("get status list %d", n), err)
	}
	var l credbatch.StatusList
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		return l, credbatch.Errorf(credbatch.KindInternal, "get status list %d: decode: %v", n, err)
	}
	return l, nil
}

// PutStatusList publishes a list at l.Version: an insert for version 1, else an update of
// the row at l.Version-1; KindConflict when another publisher got there first.
func (s *Store) PutStatusList(ctx context.Context, l credbatch.StatusList) error {
	op := fmt.Sprintf("put status list %d version %d", l.Number, l.Version)
	if l.Number < 1 || l.Version < 1 {
		return credbatch.Errorf(credbatch.KindInvalid, "%s: the number and the version start at 1", op)
	}
	body, err := json.Marshal(l)
	if err != nil {
		return credbatch.Errorf(credbatch.KindInternal, "%s: encode: %v", op, err)
	}
	var n int64
	if l.Version == 1 {
		n, err = affected(s.exec(ctx, `INSERT INTO status_lists (number, version, body) VALUES (?, 1, ?) ON CONFLICT (number) DO NOTHING`,
			l.Number, string(body)))
	} else {
		n, err = affected(s.exec(ctx, `UPDATE status_lists SET version = ?, body = ? WHERE number = ? AND version = ?`,
			l.Version, string(body), l.Number, l.Version-1))
	}
	if err != nil {
		return dbErr(op, err)
	}
	if n == 0 {
		return credbatch.Conflict("status list %d was published by another writer (it is not at version %d)", l.Number, l.Version-1)
	}
	return nil
}
