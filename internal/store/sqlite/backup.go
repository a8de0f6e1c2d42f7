package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
)

// Backup writes a consistent copy of the store's database to path, which
// must not exist: VACUUM INTO copies what one read transaction sees, while
// ingest goes on writing. The copy is checked (Check) before it takes its
// name, so that a file at path is always a whole, good backup.
func Backup(ctx context.Context, s *sqlstore.Store, path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("backup: %s exists: give a new file", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tmp := path + ".partial"
	os.Remove(tmp)
	if _, err := s.DB().ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	if _, err := Check(ctx, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup to %s: the copy does not check: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// Check opens a database file read-only and checks that it is a whole
// sensorhub store: SQLite's integrity check passes and it has a schema
// version this sensorhub reads. It returns the version.
func Check(ctx context.Context, path string) (int, error) {
	if _, err := os.Stat(path); err != nil {
		return 0, err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var result string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&result); err != nil {
		return 0, fmt.Errorf("%s is not an SQLite database: %w", path, err)
	}
	if result != "ok" {
		return 0, fmt.Errorf("%s fails SQLite's integrity check: %s", path, result)
	}
	var version int
	if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&version); err != nil {
		return 0, fmt.Errorf("%s is not a sensorhub store: %w", path, err)
	}
	if version > sqlstore.SchemaVersion {
		return 0, fmt.Errorf("%s has schema version %d, newer than this sensorhub knows (%d): upgrade sensorhub", path, version, sqlstore.SchemaVersion)
	}
	return version, nil
}

// ErrRunning is a store file that a running sensorhub has open.
var ErrRunning = errors.New("sensorhub is running on this store: stop it first")

// Lock takes the lock of the store file at path, in the file beside it
// (path + ".lock"): shared for a sensorhub that runs on it (several
// processes may), exclusive for a restore. It fails at once, with
// ErrRunning, when it cannot; release gives it back (and the process' end
// does).
func Lock(path string, exclusive bool) (release func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", path, ErrRunning)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// Restore replaces the store file at path by the backup at from, after
// checking the backup and that no sensorhub runs on path. The file it
// replaces is kept beside it, renamed; Restore returns its name ("" when
// there was none).
func Restore(ctx context.Context, from, path string) (aside string, err error) {
	release, err := Lock(path, true)
	if err != nil {
		return "", err
	}
	defer release()
	if _, err := Check(ctx, from); err != nil {
		return "", fmt.Errorf("restore: %w; nothing was replaced", err)
	}
	tmp := path + ".restoring"
	mode := os.FileMode(0o644)
	if info, err := os.Stat(path); err == nil {
		mode = info.Mode().Perm()
	}
	if err := copyFile(from, tmp, mode); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("restore: %w; nothing was replaced", err)
	}
	if _, err := os.Stat(path); err == nil {
		aside = path + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(path, aside); err != nil {
			os.Remove(tmp)
			return "", fmt.Errorf("restore: %w; nothing was replaced", err)
		}
		// The write-ahead log and its index are the replaced file's.
		for _, ext := range []string{"-wal", "-shm"} {
			if _, err := os.Stat(path + ext); err == nil {
				if err := os.Rename(path+ext, aside+ext); err != nil {
					return aside, fmt.Errorf("restore: %w", err)
				}
			}
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return aside, fmt.Errorf("restore: %w", err)
	}
	return aside, nil
}

func copyFile(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
