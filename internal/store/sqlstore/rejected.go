package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

func where(c store.Conds) (string, []any) {
	if len(c.Where) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(c.Where, " AND "), c.Args
}

func (s *Store) rejectedWhere(f store.RejectedFilter) (string, []any) {
	return where(store.RejectedConds(f, s.d.Contains))
}

// Rejected lists rejected messages, newest first.
func (s *Store) Rejected(ctx context.Context, f store.RejectedFilter) ([]reading.Rejected, error) {
	w, args := s.rejectedWhere(f)
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.query(ctx, s.db, `SELECT id, received, topic, source, customer, reason, payload, binding FROM rejected`+
		w+` ORDER BY id DESC LIMIT `+fmt.Sprint(limit), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []reading.Rejected{}
	for rows.Next() {
		var r reading.Rejected
		var ns int64
		if err := rows.Scan(&r.ID, &ns, &r.Topic, &r.Source, &r.Customer, &r.Reason, &r.Payload, &r.Binding); err != nil {
			return nil, err
		}
		r.Received = time.Unix(0, ns).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// CountRejected counts rejected messages.
func (s *Store) CountRejected(ctx context.Context, f store.RejectedFilter) (int64, error) {
	w, args := s.rejectedWhere(f)
	var n int64
	err := s.queryRow(ctx, s.db, `SELECT COUNT(*) FROM rejected`+w, args...).Scan(&n)
	return n, err
}
