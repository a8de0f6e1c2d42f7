package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

// QueueReport records a report's period for each notifier, once.
func (s *Store) QueueReport(ctx context.Context, name string, from time.Time, notifiers []string, now time.Time) (bool, error) {
	var queued bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := s.queryRow(ctx, tx, `SELECT COUNT(*) FROM report_sends WHERE name = ?`, name).Scan(&n); err != nil {
			return err
		}
		status := "pending"
		if n == 0 {
			status = "skipped"
		}
		queued = false
		for _, nf := range notifiers {
			res, err := s.exec(ctx, tx, `INSERT INTO report_sends (name, period_from, notifier, status, created) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (name, period_from, notifier) DO NOTHING`, name, from.UnixMilli(), nf, status, now.UnixMilli())
			if err != nil {
				return err
			}
			if k, err := res.RowsAffected(); err == nil && k > 0 && status == "pending" {
				queued = true
			}
		}
		return nil
	})
	return queued, err
}

// PendingReports are the reports still to send, oldest first.
func (s *Store) PendingReports(ctx context.Context) ([]store.ReportSend, error) {
	rows, err := s.query(ctx, s.db, `SELECT name, period_from, notifier, status, attempts, error, created FROM report_sends
		WHERE status = 'pending' ORDER BY period_from, name, notifier`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.ReportSend
	for rows.Next() {
		var r store.ReportSend
		var from, created int64
		if err := rows.Scan(&r.Name, &from, &r.Notifier, &r.Status, &r.Attempts, &r.Error, &created); err != nil {
			return nil, err
		}
		r.From, r.Created = time.UnixMilli(from).UTC(), time.UnixMilli(created).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// FinishReport records how a send ended.
func (s *Store) FinishReport(ctx context.Context, r store.ReportSend) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := s.exec(ctx, tx, `UPDATE report_sends SET status = ?, attempts = ?, error = ?, done = ? WHERE name = ? AND period_from = ? AND notifier = ?`,
			r.Status, r.Attempts, r.Error, r.Done.UnixMilli(), r.Name, r.From.UnixMilli(), r.Notifier)
		return err
	})
}
