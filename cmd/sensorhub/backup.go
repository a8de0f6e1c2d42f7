package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
)

// errPostgresBackup is the answer to a backup or restore of PostgreSQL.
var errPostgresBackup = errors.New("the store is PostgreSQL: back it up with pg_dump or base backups, and restore with pg_restore (README, Backups)")

// cmdBackup writes a consistent copy of the SQLite store, sensorhub
// running or not.
func cmdBackup(args []string, stdout, stderr io.Writer) error {
	f := newFlags("backup", stderr)
	to := f.String("to", "", "the backup file to write (required; must not exist)")
	cfgPath := f.String("config", "", "configuration file")
	data := f.String("data", "", "data directory (overrides data_dir)")
	if err := f.Parse(args); err != nil {
		return err
	}
	if *to == "" {
		return errors.New("backup: --to FILE is required")
	}
	cfg, err := storeConfig(*cfgPath, *data)
	if err != nil {
		return err
	}
	if _, err := os.Stat(cfg.StorePath()); err != nil {
		return fmt.Errorf("backup: no store at %s (give --data or --config): %w", cfg.StorePath(), err)
	}
	st, err := app.OpenStore(context.Background(), cfg, false, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := sqlite.Backup(context.Background(), st, *to); err != nil {
		return err
	}
	info, _ := os.Stat(*to)
	fmt.Fprintf(stdout, "backed up %s to %s at %s (%d bytes, integrity checked)\n", cfg.StorePath(), *to, info.ModTime().UTC().Format(time.RFC3339), info.Size())
	return nil
}

// cmdRestore puts a backup in place of the SQLite store, sensorhub
// stopped.
func cmdRestore(args []string, stdout, stderr io.Writer) error {
	f := newFlags("restore", stderr)
	cfgPath := f.String("config", "", "configuration file")
	data := f.String("data", "", "data directory (overrides data_dir)")
	// The file may come before the flags, or after them.
	var files []string
	for rest := args; ; {
		if err := f.Parse(rest); err != nil {
			return err
		}
		if f.NArg() == 0 {
			break
		}
		files, rest = append(files, f.Arg(0)), f.Args()[1:]
	}
	if len(files) != 1 {
		return errors.New("restore: give one backup file: sensorhub restore [--config FILE] [--data DIR] BACKUP")
	}
	cfg, err := storeConfig(*cfgPath, *data)
	if err != nil {
		return err
	}
	taken := ""
	if info, err := os.Stat(files[0]); err == nil {
		taken = info.ModTime().UTC().Format(time.RFC3339)
	}
	aside, err := sqlite.Restore(context.Background(), files[0], cfg.StorePath())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s from %s (written %s)\n", cfg.StorePath(), files[0], taken)
	if aside != "" {
		fmt.Fprintf(stdout, "the store it replaced is kept as %s\n", aside)
	}
	fmt.Fprintf(stdout, "readings received since the backup can be stored again with: sensorhub replay --from %s (while the queue keeps them, queue.raw_max_age)\n", taken)
	return nil
}

// storeConfig is the validated configuration of --config and --data, for
// a command on the SQLite store.
func storeConfig(cfgPath, data string) (*config.Config, error) {
	cfg, err := dataConfig(cfgPath, data)
	if err == nil && cfg.Store.Engine == "postgres" {
		return nil, errPostgresBackup
	}
	return cfg, err
}

// dataConfig is the validated configuration of --config and --data.
func dataConfig(cfgPath, data string) (*config.Config, error) {
	p, _, err := loadPlan(cfgPath, func(c *config.Config) {
		if data != "" {
			c.DataDir = data
		}
	})
	if err != nil {
		return nil, err
	}
	return p.Config, nil
}
