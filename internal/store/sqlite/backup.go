package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	db, err := openReadOnly(path)
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

// Installation is the installation id of the store file at path, read
// without changing it: "" for a store of a release before installation
// ids.
func Installation(ctx context.Context, path string) (string, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'installation'`).Scan(&n); err != nil {
		return "", fmt.Errorf("%s is not an SQLite database: %w", path, err)
	}
	if n == 0 {
		return "", nil
	}
	var id string
	err = db.QueryRowContext(ctx, `SELECT id FROM installation`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("installation of %s: %w", path, err)
	}
	return id, nil
}

func openReadOnly(path string) (*sql.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
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

// Restored is what a restore did.
type Restored struct {
	// Aside is the name the replaced store file is kept under, "" when
	// there was none.
	Aside string
	// Installation is the backup's installation id, Replaced the replaced
	// store's; "" for a store of a release before installation ids, or
	// one that cannot be read.
	Installation, Replaced string
}

// OtherInstallationError refuses a backup of another installation than
// that of the store it would replace.
type OtherInstallationError struct {
	Backup, Store string
}

func (e *OtherInstallationError) Error() string {
	return fmt.Sprintf("the backup is of installation %s, the store of installation %s", e.Backup, e.Store)
}

// Restore replaces the store file at path by the backup at from, after
// checking the backup and that no sensorhub runs on path. A backup of
// another installation than the store's is refused with an
// *OtherInstallationError unless force is set; a store that has no
// installation id, or cannot be read, is replaced by any backup. The file
// it replaces is kept beside it, under a name no other restore takes.
func Restore(ctx context.Context, from, path string, force bool) (Restored, error) {
	var res Restored
	release, err := Lock(path, true)
	if err != nil {
		return res, err
	}
	defer release()
	if _, err := Check(ctx, from); err != nil {
		return res, fmt.Errorf("restore: %w; nothing was replaced", err)
	}
	if res.Installation, err = Installation(ctx, from); err != nil {
		return res, fmt.Errorf("restore: %w; nothing was replaced", err)
	}
	_, err = os.Stat(path)
	exists := err == nil
	if exists {
		// A store that cannot be read is what a restore is for: it is
		// replaced, whoever's backup it is.
		res.Replaced, _ = Installation(ctx, path)
		if !force && res.Installation != "" && res.Replaced != "" && res.Installation != res.Replaced {
			return res, fmt.Errorf("restore: %w; nothing was replaced", &OtherInstallationError{Backup: res.Installation, Store: res.Replaced})
		}
	}
	tmp := path + ".restoring"
	mode := os.FileMode(0o644)
	if info, err := os.Stat(path); err == nil {
		mode = info.Mode().Perm()
	}
	if err := copyFile(from, tmp, mode); err != nil {
		os.Remove(tmp)
		return res, fmt.Errorf("restore: %w; nothing was replaced", err)
	}
	if exists {
		aside, err := reserveAside(path)
		if err != nil {
			os.Remove(tmp)
			return res, fmt.Errorf("restore: %w; nothing was replaced", err)
		}
		if err := os.Rename(path, aside); err != nil {
			os.Remove(aside)
			os.Remove(tmp)
			return res, fmt.Errorf("restore: %w; nothing was replaced", err)
		}
		res.Aside = aside
		// The write-ahead log and its index are the replaced file's.
		for _, ext := range []string{"-wal", "-shm"} {
			if _, err := os.Stat(path + ext); err == nil {
				if err := os.Rename(path+ext, aside+ext); err != nil {
					return res, fmt.Errorf("restore: %w", err)
				}
			}
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	return res, nil
}

// reserveAside makes the file a replaced store is kept under, beside
// path: named by the time to the nanosecond and, should that name be
// taken, a counter; created exclusively, so that no restore ever writes
// over what another kept.
func reserveAside(path string) (string, error) {
	stamp := path + ".before-restore-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	for n := 1; n <= 1000; n++ {
		name := stamp
		if n > 1 {
			name = fmt.Sprintf("%s-%d", stamp, n)
		}
		if taken(name+"-wal") || taken(name+"-shm") {
			continue
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("keep the replaced store: %w", err)
		}
		return name, f.Close()
	}
	return "", fmt.Errorf("keep the replaced store: every name like %s is taken", stamp)
}

func taken(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
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
