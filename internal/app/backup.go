package app

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
	"github.com/sensorhub/sensorhub/internal/web"
)

// backupStage backs the SQLite store up every store.backup.every into
// store.backup.dir, keeping the newest store.backup.keep.
type backupStage struct {
	st    *sqlstore.Store
	dir   string
	every time.Duration
	keep  int
	// floor, when set, holds the backups while the disk is low.
	floor *diskFloor
	log   *slog.Logger
	workers
}

// backupPrefix and backupExt frame a scheduled backup's name, with its
// UTC time between: they sort by time.
const (
	backupPrefix = "sensorhub-"
	backupExt    = ".db"
)

func (s *backupStage) start(context.Context) error {
	s.run(func(ctx context.Context) {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(s.every):
			}
			s.once(ctx)
		}
	})
	return nil
}

func (s *backupStage) once(ctx context.Context) {
	if s.floor != nil {
		if err := s.floor.check(ctx); err != nil {
			s.log.Warn("scheduled backup skipped: the disk is low", "err", err)
			return
		}
	}
	start := time.Now()
	path := filepath.Join(s.dir, backupPrefix+start.UTC().Format("20060102T150405Z")+backupExt)
	if err := sqlite.Backup(ctx, s.st, path); err != nil {
		if ctx.Err() == nil {
			s.log.Error("scheduled backup failed", "err", err)
		}
		return
	}
	s.log.Info("store backed up", "file", path, "took", time.Since(start).Round(time.Millisecond))
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		s.log.Warn("listing the backups failed", "dir", s.dir, "err", err)
		return
	}
	var backups []string
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, backupPrefix) && strings.HasSuffix(n, backupExt) {
			backups = append(backups, n)
		}
	}
	slices.Sort(backups)
	for _, old := range backups[:max(0, len(backups)-s.keep)] {
		if err := os.Remove(filepath.Join(s.dir, old)); err != nil {
			s.log.Warn("removing an old backup failed", "file", old, "err", err)
		} else {
			s.log.Info("old backup removed", "file", old)
		}
	}
}

func (s *backupStage) serve(*web.Server) {}
