package app

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestScheduledBackups: the backup stage writes a backup every period and
// keeps the newest keep of them, each a store that checks.
func TestScheduledBackups(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "sensorhub.db"), sqlstore.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	backups := filepath.Join(dir, "backups")
	var logs testenv.SyncBuffer
	s := &backupStage{st: st, dir: backups, every: 1100 * time.Millisecond, keep: 2, log: slog.New(slog.NewTextHandler(&logs, nil))}
	if err := s.start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.stop(context.Background())
	testenv.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
		if n := strings.Count(logs.String(), "old backup removed"); n < 2 {
			return os.ErrNotExist
		}
		return nil
	})
	s.stop(context.Background())
	entries, _ := os.ReadDir(backups)
	if len(entries) != 2 {
		t.Fatalf("%d files in %s, want the 2 newest backups:\n%s", len(entries), backups, logs.String())
	}
	for _, e := range entries {
		if _, err := sqlite.Check(context.Background(), filepath.Join(backups, e.Name())); err != nil {
			t.Errorf("backup %s: %v", e.Name(), err)
		}
	}
}
