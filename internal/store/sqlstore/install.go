package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// ensureInstallation gives a store that has no installation id one (a
// new store, or one brought up from the release before): a random UUID,
// kept for the store's life and carried by its backups. Two processes
// opening the store at once agree on one: the table holds one row.
func (s *Store) ensureInstallation(ctx context.Context) error {
	if id, err := s.Installation(ctx); err != nil || id != "" {
		return err
	}
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO installation (one, id) VALUES (1, ?) ON CONFLICT (one) DO NOTHING`), uuid.NewString()); err != nil {
		return fmt.Errorf("name the installation: %w", err)
	}
	return nil
}

// Installation is the id of the installation the store belongs to: made
// with the store, the same in each of its backups.
func (s *Store) Installation(ctx context.Context) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT id FROM installation`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("installation: %w", s.d.Classify(err))
	}
	return id, nil
}
