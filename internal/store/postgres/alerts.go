package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sensorhub/sensorhub/internal/store"
)

// AlertStates returns every saved state machine.
func (s *Store) AlertStates(ctx context.Context) ([]store.AlertState, error) {
	rows, err := s.pool.Query(ctx, `SELECT rule, customer, sensor, device, machine, alert_id FROM alert_states`)
	if err != nil {
		return nil, fmt.Errorf("store: alert states: %w", err)
	}
	var out []store.AlertState
	var st store.AlertState
	var m []byte
	_, err = pgx.ForEachRow(rows, []any{&st.Rule, &st.Customer, &st.Sensor, &st.Device, &m, &st.AlertID}, func() error {
		st.Machine = json.RawMessage(append([]byte(nil), m...))
		out = append(out, st)
		return nil
	})
	return out, err
}

// SaveAlerts saves the changes in one transaction.
func (s *Store) SaveAlerts(ctx context.Context, changes []store.AlertChange) error {
	return classify(s.saveAlerts(ctx, changes))
}

func (s *Store) saveAlerts(ctx context.Context, changes []store.AlertChange) error {
	if len(changes) == 0 {
		return nil
	}
	ids := make([]int64, len(changes))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for i, c := range changes {
			st := c.State
			if c.Open == nil && st.AlertID == 0 {
				// The alert this key has open, which an earlier change of
				// the same evaluation may have opened.
				err := tx.QueryRow(ctx, `SELECT alert_id FROM alert_states WHERE rule = $1 AND customer = $2 AND sensor = $3 AND device = $4`,
					st.Rule, st.Customer, st.Sensor, st.Device).Scan(&st.AlertID)
				if err != nil && !errors.Is(err, pgx.ErrNoRows) {
					return fmt.Errorf("store: alert state: %w", err)
				}
			}
			if c.Open != nil {
				a := c.Open
				vals, _ := json.Marshal(a.Values)
				if err := tx.QueryRow(ctx, `INSERT INTO alerts (rule, customer, sensor, device, name, severity, state, started, message, vals)
					VALUES ($1, $2, $3, $4, $5, $6, 'firing', $7, $8, $9) RETURNING id`,
					st.Rule, st.Customer, st.Sensor, st.Device, a.Name, a.Severity, a.Started.UnixNano(), a.Message, string(vals)).
					Scan(&st.AlertID); err != nil {
					return fmt.Errorf("store: open alert: %w", err)
				}
			}
			ids[i] = st.AlertID
			if c.Resolve != nil && st.AlertID != 0 {
				if _, err := tx.Exec(ctx, `UPDATE alerts SET state = 'resolved', resolved = $1 WHERE id = $2`,
					c.Resolve.UnixNano(), st.AlertID); err != nil {
					return fmt.Errorf("store: resolve alert: %w", err)
				}
			}
			for _, n := range c.Notify {
				if n.AlertID == 0 {
					n.AlertID = st.AlertID
				}
				if n.AlertID == 0 {
					return fmt.Errorf("store: a %s notification of %s for %s/%s refers to no alert", n.Kind, st.Rule, st.Sensor, st.Device)
				}
				if _, err := tx.Exec(ctx, `INSERT INTO notifications (alert_id, kind, notifier, event, status, created)
					VALUES ($1, $2, $3, $4, 'pending', $5)`, n.AlertID, n.Kind, n.Notifier, string(n.Event), n.Created.UnixNano()); err != nil {
					return fmt.Errorf("store: notification: %w", err)
				}
			}
			if c.Resolve != nil {
				st.AlertID = 0
			}
			if _, err := tx.Exec(ctx, `INSERT INTO alert_states (rule, customer, sensor, device, machine, alert_id)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (rule, customer, sensor, device)
				DO UPDATE SET machine = excluded.machine, alert_id = excluded.alert_id`,
				st.Rule, st.Customer, st.Sensor, st.Device, string(st.Machine), st.AlertID); err != nil {
				return fmt.Errorf("store: alert state: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Only a committed alert's id is given back.
	for i := range changes {
		changes[i].State.AlertID = ids[i]
	}
	return nil
}

const alertColumns = `id, rule, customer, sensor, device, name, severity, state, started, resolved, message, vals, acked_by, acked_at, ack_comment`

func scanAlert(row pgx.Row) (store.Alert, error) {
	var a store.Alert
	var started int64
	var resolved, acked *int64
	var vals []byte
	if err := row.Scan(&a.ID, &a.Rule, &a.Customer, &a.Sensor, &a.Device, &a.Name, &a.Severity, &a.State,
		&started, &resolved, &a.Message, &vals, &a.AckedBy, &acked, &a.AckComment); err != nil {
		return a, err
	}
	a.Started = time.Unix(0, started).UTC()
	a.Resolved, a.AckedAt = nanos(resolved), nanos(acked)
	if err := json.Unmarshal(vals, &a.Values); err != nil {
		return a, fmt.Errorf("alert %d values: %w", a.ID, err)
	}
	return a, nil
}

func nanos(ns *int64) *time.Time {
	if ns == nil {
		return nil
	}
	t := time.Unix(0, *ns).UTC()
	return &t
}

// Alerts lists alerts, newest first.
func (s *Store) Alerts(ctx context.Context, f store.AlertFilter) ([]store.Alert, error) {
	w, args := where(store.AlertConds(f))
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.pool.Query(ctx, `SELECT `+alertColumns+` FROM alerts`+w+` ORDER BY id DESC LIMIT `+fmt.Sprint(limit), args...)
	if err != nil {
		return nil, fmt.Errorf("store: alerts: %w", err)
	}
	defer rows.Close()
	out := []store.Alert{}
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Alert returns one alert.
func (s *Store) Alert(ctx context.Context, id int64) (store.Alert, error) {
	a, err := scanAlert(s.pool.QueryRow(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, store.ErrNotFound
	}
	return a, err
}

// AckAlert acknowledges a firing alert.
func (s *Store) AckAlert(ctx context.Context, id int64, by, comment string, at time.Time) (store.Alert, error) {
	ct, err := s.pool.Exec(ctx, `UPDATE alerts SET acked_by = $1, ack_comment = $2, acked_at = $3 WHERE id = $4 AND state = 'firing'`,
		by, comment, at.UnixNano(), id)
	if err != nil {
		return store.Alert{}, fmt.Errorf("store: ack alert: %w", err)
	}
	a, err := s.Alert(ctx, id)
	if err != nil {
		return a, err
	}
	if ct.RowsAffected() == 0 {
		return a, store.ErrNotFiring
	}
	return a, nil
}

const notificationColumns = `id, alert_id, kind, notifier, event, status, attempts, error, created, done`

func scanNotifications(rows pgx.Rows) ([]store.Notification, error) {
	out := []store.Notification{}
	var n store.Notification
	var ev []byte
	var created int64
	var done *int64
	_, err := pgx.ForEachRow(rows, []any{&n.ID, &n.AlertID, &n.Kind, &n.Notifier, &ev, &n.Status, &n.Attempts, &n.Error, &created, &done}, func() error {
		n.Event = json.RawMessage(append([]byte(nil), ev...))
		n.Created = time.Unix(0, created).UTC()
		n.Done = time.Time{}
		if done != nil {
			n.Done = time.Unix(0, *done).UTC()
		}
		out = append(out, n)
		return nil
	})
	return out, err
}

// PendingNotifications returns a notifier's notifications still to send.
func (s *Store) PendingNotifications(ctx context.Context, notifier string, limit int) ([]store.Notification, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+notificationColumns+` FROM notifications
		WHERE notifier = $1 AND status = 'pending' ORDER BY id LIMIT $2`, notifier, limit)
	if err != nil {
		return nil, fmt.Errorf("store: pending notifications: %w", err)
	}
	return scanNotifications(rows)
}

// FinishNotification records the outcome of a send.
func (s *Store) FinishNotification(ctx context.Context, n store.Notification) error {
	var done *int64
	if !n.Done.IsZero() {
		ns := n.Done.UnixNano()
		done = &ns
	}
	ct, err := s.pool.Exec(ctx, `UPDATE notifications SET status = $1, attempts = $2, error = $3, done = $4 WHERE id = $5`,
		n.Status, n.Attempts, n.Error, done, n.ID)
	if err != nil {
		return fmt.Errorf("store: finish notification: %w", err)
	}
	if ct.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// Notifications lists an alert's notifications, oldest first.
func (s *Store) Notifications(ctx context.Context, alertID int64) ([]store.Notification, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE alert_id = $1 ORDER BY id`, alertID)
	if err != nil {
		return nil, fmt.Errorf("store: notifications: %w", err)
	}
	return scanNotifications(rows)
}
