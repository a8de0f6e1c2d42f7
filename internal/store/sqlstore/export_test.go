package sqlstore

import "context"

// CompactDue folds the days that are due, as the compactor does.
func (s *Store) CompactDue(ctx context.Context) error {
	_, _, err := s.compact(ctx, false)
	return err
}
