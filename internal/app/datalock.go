package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrDataDirInUse is a data directory another sensorhub holds.
var ErrDataDirInUse = errors.New("the data directory is in use by another sensorhub")

// lockFile is the file in the data directory whose exclusive lock the
// process running the embedded queue holds, and which says who that is.
const lockFile = "sensorhub.lock"

// lockDataDir takes the exclusive lock of the data directory dir, so that
// no two processes run an embedded queue (and its store) on one
// directory: two would each take messages the other's files lose. When
// another process holds it, lockDataDir says so and waits up to wait
// for it to let go (a restart overlapping a stop), then fails with
// ErrDataDirInUse naming the holder. The lock goes with release, or with
// the process.
func lockDataDir(ctx context.Context, dir string, wait time.Duration, log *slog.Logger) (release func() error, err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	deadline := time.Now().Add(wait)
	said := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("data directory: lock %s: %w", path, err)
		}
		holder := holderOf(path)
		if !time.Now().Before(deadline) {
			f.Close()
			return nil, fmt.Errorf("%w: %s is held by %s; stop it first, or give this one --lock-wait to wait for it",
				ErrDataDirInUse, dir, holder)
		}
		if !said {
			log.Warn("data directory in use: waiting for the other sensorhub to stop", "dir", dir, "held_by", holder, "wait", wait)
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	host, _ := os.Hostname()
	owner := fmt.Sprintf("sensorhub pid %d on %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(owner), 0)
	}
	if said {
		log.Info("data directory free: starting", "dir", dir)
	}
	return f.Close, nil
}

// holderOf is what the lock file says of the process holding it.
func holderOf(path string) string {
	b, err := os.ReadFile(path)
	if s := strings.TrimSpace(string(b)); err == nil && s != "" {
		return s
	}
	return "another sensorhub"
}
