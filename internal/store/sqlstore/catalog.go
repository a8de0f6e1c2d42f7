package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

var _ store.Catalog = (*Store)(nil)

// CatalogVersion reads the catalog's version.
func (s *Store) CatalogVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.queryRow(ctx, s.db, `SELECT version FROM catalog_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: catalog version: %w", s.d.Classify(err))
	}
	return v, nil
}

// ReadCatalog reads the version and the items in one transaction, so
// that they agree.
func (s *Store) ReadCatalog(ctx context.Context) (int64, []store.CatalogItem, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, nil, fmt.Errorf("store: read the catalog: %w", s.d.Classify(err))
	}
	defer tx.Rollback()
	var v int64
	if err := s.queryRow(ctx, tx, `SELECT version FROM catalog_version`).Scan(&v); err != nil {
		return 0, nil, fmt.Errorf("store: read the catalog: %w", s.d.Classify(err))
	}
	rows, err := s.query(ctx, tx, `SELECT kind, name, customer, spec, source, version FROM catalog ORDER BY kind, name`)
	if err != nil {
		return 0, nil, fmt.Errorf("store: read the catalog: %w", s.d.Classify(err))
	}
	defer rows.Close()
	var items []store.CatalogItem
	for rows.Next() {
		var it store.CatalogItem
		var spec string
		if err := rows.Scan(&it.Kind, &it.Name, &it.Customer, &spec, &it.Source, &it.Version); err != nil {
			return 0, nil, fmt.Errorf("store: read the catalog: %w", err)
		}
		it.Spec = json.RawMessage(spec)
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return 0, nil, fmt.Errorf("store: read the catalog: %w", s.d.Classify(err))
	}
	return v, items, nil
}

// errUnchanged rolls back a change of the catalog that changes nothing.
var errUnchanged = errors.New("unchanged")

// ChangeCatalog raises the version first: the row lock that takes
// serialises the processes changing the catalog, so that the conditions
// are checked against what no other change can move.
func (s *Store) ChangeCatalog(ctx context.Context, by string, changes []store.CatalogChange) (int64, error) {
	var version int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.queryRow(ctx, tx, `UPDATE catalog_version SET version = version + 1 RETURNING version`).Scan(&version); err != nil {
			return err
		}
		at := time.Now().UnixMilli()
		changed := false
		for _, c := range changes {
			ok, err := s.changeItem(ctx, tx, by, version, at, c)
			if err != nil {
				return err
			}
			changed = changed || ok
		}
		if !changed {
			return errUnchanged
		}
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return s.CatalogVersion(ctx)
	}
	if err != nil {
		return 0, fmt.Errorf("store: change the catalog: %w", err)
	}
	return version, nil
}

// changeItem makes one change at version, and says whether it changed
// anything.
func (s *Store) changeItem(ctx context.Context, tx *sql.Tx, by string, version, at int64, c store.CatalogChange) (bool, error) {
	var before store.CatalogItem
	var spec string
	err := s.queryRow(ctx, tx, `SELECT customer, spec, source, version FROM catalog WHERE kind = ? AND name = ?`, c.Kind, c.Name).
		Scan(&before.Customer, &spec, &before.Source, &before.Version)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	before.Spec = json.RawMessage(spec)
	switch {
	case c.IfVersion == -1 && exists:
		return false, fmt.Errorf("%w: %s %q", store.ErrExists, singular(c.Kind), c.Name)
	case c.IfVersion > 0 && !exists:
		return false, fmt.Errorf("%w: %s %q no longer exists", store.ErrConflict, singular(c.Kind), c.Name)
	case c.IfVersion > 0 && before.Version != c.IfVersion:
		return false, fmt.Errorf("%w: %s %q is at version %d, the change was made from %d", store.ErrConflict, singular(c.Kind), c.Name, before.Version, c.IfVersion)
	}
	var after []byte
	if c.Spec != nil {
		var buf bytes.Buffer
		if err := json.Compact(&buf, c.Spec); err != nil {
			return false, fmt.Errorf("%s %q: %w", singular(c.Kind), c.Name, err)
		}
		after = buf.Bytes()
	}
	switch {
	case c.Spec == nil && !exists:
		return false, nil
	case c.Spec == nil:
		if _, err := s.exec(ctx, tx, `DELETE FROM catalog WHERE kind = ? AND name = ?`, c.Kind, c.Name); err != nil {
			return false, err
		}
	case exists && bytes.Equal(after, before.Spec) && c.Customer == before.Customer && c.Source == before.Source:
		return false, nil
	default:
		if _, err := s.exec(ctx, tx, `INSERT INTO catalog (kind, name, customer, spec, source, version) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (kind, name) DO UPDATE SET customer = excluded.customer, spec = excluded.spec,
				source = excluded.source, version = excluded.version`,
			c.Kind, c.Name, c.Customer, string(after), c.Source, version); err != nil {
			return false, err
		}
	}
	customer := c.Customer
	if c.Spec == nil {
		customer = before.Customer
	}
	var beforeArg, afterArg any
	if exists {
		beforeArg = spec
	}
	if after != nil {
		afterArg = string(after)
	}
	_, err = s.exec(ctx, tx, `INSERT INTO catalog_audit (version, at, by_whom, kind, name, customer, spec_before, spec_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		version, at, by, c.Kind, c.Name, customer, beforeArg, afterArg)
	return err == nil, err
}

// singular names one item of a kind in messages.
func singular(kind string) string { return strings.TrimSuffix(kind, "s") }

// Audit reads the audit entries newest first.
func (s *Store) Audit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, error) {
	where, args := []string{"1 = 1"}, []any{}
	if q.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, q.Kind)
	}
	if q.Name != "" {
		where, args = append(where, "name = ?"), append(args, q.Name)
	}
	if q.Customers != nil {
		if len(q.Customers) == 0 {
			return nil, nil
		}
		where = append(where, "customer IN "+inList(len(q.Customers)))
		for _, c := range q.Customers {
			args = append(args, c)
		}
	}
	if q.Before > 0 {
		where, args = append(where, "id < ?"), append(args, q.Before)
	}
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := s.query(ctx, s.db, `SELECT id, version, at, by_whom, kind, name, customer, spec_before, spec_after FROM catalog_audit
		WHERE `+strings.Join(where, " AND ")+fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, limit), args...)
	if err != nil {
		return nil, fmt.Errorf("store: audit: %w", s.d.Classify(err))
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		var at int64
		var before, after sql.NullString
		if err := rows.Scan(&e.ID, &e.Version, &at, &e.By, &e.Kind, &e.Name, &e.Customer, &before, &after); err != nil {
			return nil, fmt.Errorf("store: audit: %w", err)
		}
		e.At = time.UnixMilli(at).UTC()
		if before.Valid {
			e.Before = json.RawMessage(before.String)
		}
		if after.Valid {
			e.After = json.RawMessage(after.String)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// RemoveAudit deletes the audit entries made before cut.
func (s *Store) RemoveAudit(ctx context.Context, cut time.Time) (int64, error) {
	res, err := s.exec(ctx, s.db, `DELETE FROM catalog_audit WHERE at < ?`, cut.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("store: remove audit entries: %w", s.d.Classify(err))
	}
	return res.RowsAffected()
}
