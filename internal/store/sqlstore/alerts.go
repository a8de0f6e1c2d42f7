package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

// AlertStates returns every saved state machine.
func (s *Store) AlertStates(ctx context.Context) ([]store.AlertState, error) {
	rows, err := s.query(ctx, s.db, `SELECT rule, customer, sensor, device, machine, alert_id FROM alert_states`)
	if err != nil {
		return nil, fmt.Errorf("store: alert states: %w", err)
	}
	defer rows.Close()
	var out []store.AlertState
	for rows.Next() {
		var st store.AlertState
		var m string
		if err := rows.Scan(&st.Rule, &st.Customer, &st.Sensor, &st.Device, &m, &st.AlertID); err != nil {
			return nil, err
		}
		st.Machine = json.RawMessage(m)
		out = append(out, st)
	}
	return out, rows.Err()
}

// SaveAlerts saves the changes in one transaction. An alert's id is given
// back once committed.
func (s *Store) SaveAlerts(ctx context.Context, changes []store.AlertChange) error {
	if len(changes) == 0 {
		return nil
	}
	ids := make([]int64, len(changes))
	err := s.tx(ctx, func(tx *sql.Tx) error { return s.saveAlerts(ctx, tx, changes, ids) })
	if err != nil {
		return err
	}
	for i := range changes {
		changes[i].State.AlertID = ids[i]
	}
	return nil
}

func (s *Store) saveAlerts(ctx context.Context, tx *sql.Tx, changes []store.AlertChange, ids []int64) error {
	for i, c := range changes {
		st := c.State
		if c.Open == nil && st.AlertID == 0 {
			// The alert this key has open, which an earlier change of the
			// same evaluation may have opened.
			err := s.queryRow(ctx, tx, `SELECT alert_id FROM alert_states WHERE rule = ? AND customer = ? AND sensor = ? AND device = ?`,
				st.Rule, st.Customer, st.Sensor, st.Device).Scan(&st.AlertID)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("store: alert state: %w", err)
			}
		}
		if c.Open != nil {
			a := c.Open
			vals, _ := json.Marshal(a.Values)
			if err := s.queryRow(ctx, tx, `INSERT INTO alerts (rule, customer, sensor, device, name, severity, state, started, message, vals)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
				st.Rule, st.Customer, st.Sensor, st.Device, a.Name, a.Severity, "firing", a.Started.UnixNano(), a.Message, string(vals)).
				Scan(&st.AlertID); err != nil {
				return fmt.Errorf("store: open alert: %w", err)
			}
		}
		ids[i] = st.AlertID
		if c.Resolve != nil && st.AlertID != 0 {
			if _, err := s.exec(ctx, tx, `UPDATE alerts SET state = 'resolved', resolved = ? WHERE id = ?`,
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
			if _, err := s.exec(ctx, tx, `INSERT INTO notifications (alert_id, kind, notifier, event, status, created)
				VALUES (?, ?, ?, ?, 'pending', ?)`, n.AlertID, n.Kind, n.Notifier, string(n.Event), n.Created.UnixNano()); err != nil {
				return fmt.Errorf("store: notification: %w", err)
			}
		}
		if c.Resolve != nil {
			st.AlertID = 0
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO alert_states (rule, customer, sensor, device, machine, alert_id)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (rule, customer, sensor, device)
			DO UPDATE SET machine = excluded.machine, alert_id = excluded.alert_id`,
			st.Rule, st.Customer, st.Sensor, st.Device, string(st.Machine), st.AlertID); err != nil {
			return fmt.Errorf("store: alert state: %w", err)
		}
	}
	return nil
}

const alertColumns = `id, rule, customer, sensor, device, name, severity, state, started, resolved, message, vals, acked_by, acked_at, ack_comment`

func scanAlert(row interface{ Scan(...any) error }) (store.Alert, error) {
	var a store.Alert
	var started int64
	var resolved, acked sql.NullInt64
	var vals string
	if err := row.Scan(&a.ID, &a.Rule, &a.Customer, &a.Sensor, &a.Device, &a.Name, &a.Severity, &a.State,
		&started, &resolved, &a.Message, &vals, &a.AckedBy, &acked, &a.AckComment); err != nil {
		return a, err
	}
	a.Started = time.Unix(0, started).UTC()
	if resolved.Valid {
		t := time.Unix(0, resolved.Int64).UTC()
		a.Resolved = &t
	}
	if acked.Valid {
		t := time.Unix(0, acked.Int64).UTC()
		a.AckedAt = &t
	}
	if err := json.Unmarshal([]byte(vals), &a.Values); err != nil {
		return a, fmt.Errorf("alert %d values: %w", a.ID, err)
	}
	return a, nil
}

// Alerts lists alerts, newest first.
func (s *Store) Alerts(ctx context.Context, f store.AlertFilter) ([]store.Alert, error) {
	w, args := where(store.AlertConds(f))
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.query(ctx, s.db, `SELECT `+alertColumns+` FROM alerts`+w+` ORDER BY id DESC LIMIT `+fmt.Sprint(limit), args...)
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

// CountFiring counts the firing alerts per device.
func (s *Store) CountFiring(ctx context.Context, customers []string) (map[store.DeviceKey]int, error) {
	w, args := where(store.AlertConds(store.AlertFilter{State: "firing", Customers: customers}))
	rows, err := s.query(ctx, s.db, `SELECT customer, sensor, device, COUNT(*) FROM alerts`+w+` GROUP BY customer, sensor, device`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: count firing alerts: %w", err)
	}
	defer rows.Close()
	out := map[store.DeviceKey]int{}
	for rows.Next() {
		var k store.DeviceKey
		var n int
		if err := rows.Scan(&k.Customer, &k.Sensor, &k.Device, &n); err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, rows.Err()
}

// Alert returns one alert.
func (s *Store) Alert(ctx context.Context, id int64) (store.Alert, error) {
	a, err := scanAlert(s.queryRow(ctx, s.db, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, store.ErrNotFound
	}
	return a, err
}

// AckAlert acknowledges a firing alert.
func (s *Store) AckAlert(ctx context.Context, id int64, by, comment string, at time.Time) (store.Alert, error) {
	var res sql.Result
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = s.exec(ctx, tx, `UPDATE alerts SET acked_by = ?, ack_comment = ?, acked_at = ? WHERE id = ? AND state = 'firing'`,
			by, comment, at.UnixNano(), id)
		return err
	})
	if err != nil {
		return store.Alert{}, fmt.Errorf("store: ack alert: %w", err)
	}
	a, err := s.Alert(ctx, id)
	if err != nil {
		return a, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return a, store.ErrNotFiring
	}
	return a, nil
}

const notificationColumns = `id, alert_id, kind, notifier, event, status, attempts, error, created, done`

func scanNotifications(rows *sql.Rows) ([]store.Notification, error) {
	defer rows.Close()
	out := []store.Notification{}
	for rows.Next() {
		var n store.Notification
		var ev string
		var created int64
		var done sql.NullInt64
		if err := rows.Scan(&n.ID, &n.AlertID, &n.Kind, &n.Notifier, &ev, &n.Status, &n.Attempts, &n.Error, &created, &done); err != nil {
			return nil, err
		}
		n.Event = json.RawMessage(ev)
		n.Created = time.Unix(0, created).UTC()
		if done.Valid {
			n.Done = time.Unix(0, done.Int64).UTC()
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// PendingNotifications returns a notifier's notifications still to send.
func (s *Store) PendingNotifications(ctx context.Context, notifier string, limit int) ([]store.Notification, error) {
	rows, err := s.query(ctx, s.db, `SELECT `+notificationColumns+` FROM notifications
		WHERE notifier = ? AND status = 'pending' ORDER BY id LIMIT ?`, notifier, limit)
	if err != nil {
		return nil, fmt.Errorf("store: pending notifications: %w", err)
	}
	return scanNotifications(rows)
}

// FinishNotification records the outcome of a send.
func (s *Store) FinishNotification(ctx context.Context, n store.Notification) error {
	var done any
	if !n.Done.IsZero() {
		done = n.Done.UnixNano()
	}
	var res sql.Result
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = s.exec(ctx, tx, `UPDATE notifications SET status = ?, attempts = ?, error = ?, done = ? WHERE id = ?`,
			n.Status, n.Attempts, n.Error, done, n.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: finish notification: %w", err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return store.ErrNotFound
	}
	return nil
}

// Notifications lists an alert's notifications, oldest first.
func (s *Store) Notifications(ctx context.Context, alertID int64) ([]store.Notification, error) {
	rows, err := s.query(ctx, s.db, `SELECT `+notificationColumns+` FROM notifications WHERE alert_id = ? ORDER BY id`, alertID)
	if err != nil {
		return nil, fmt.Errorf("store: notifications: %w", err)
	}
	return scanNotifications(rows)
}
