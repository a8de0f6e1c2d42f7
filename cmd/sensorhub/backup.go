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
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
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
	st, err := openExisting(context.Background(), cfg, "backup")
	if err != nil {
		return err
	}
	defer st.Close()
	if err := sqlite.Backup(context.Background(), st, *to); err != nil {
		return err
	}
	id, err := st.Installation(context.Background())
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	info, _ := os.Stat(*to)
	fmt.Fprintf(stdout, "backed up %s to %s at %s (%d bytes, integrity checked)\n", cfg.StorePath(), *to, info.ModTime().UTC().Format(time.RFC3339), info.Size())
	fmt.Fprintf(stdout, "installation %s\n", id)
	return nil
}

// cmdRestore puts a backup in place of the SQLite store, sensorhub
// stopped.
func cmdRestore(args []string, stdout, stderr io.Writer) error {
	f := newFlags("restore", stderr)
	cfgPath := f.String("config", "", "configuration file")
	data := f.String("data", "", "data directory (overrides data_dir)")
	force := f.Bool("force", false, "restore a backup of another installation than the store's")
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
		return errors.New("restore: give one backup file: sensorhub restore [--config FILE] [--data DIR] [--force] BACKUP")
	}
	cfg, err := storeConfig(*cfgPath, *data)
	if err != nil {
		return err
	}
	taken := ""
	if info, err := os.Stat(files[0]); err == nil {
		taken = info.ModTime().UTC().Format(time.RFC3339)
	}
	res, err := sqlite.Restore(context.Background(), files[0], cfg.StorePath(), *force)
	var other *sqlite.OtherInstallationError
	if errors.As(err, &other) {
		return fmt.Errorf("restore: %s is a backup of installation %s, but the store at %s belongs to installation %s; nothing was replaced. "+
			"If that is what you mean, restore it anyway with --force", files[0], other.Backup, cfg.StorePath(), other.Store)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s from %s (written %s)\n", cfg.StorePath(), files[0], taken)
	switch {
	case res.Installation == "":
		fmt.Fprintf(stdout, "the backup names no installation (a release before installation ids)\n")
	case res.Replaced != "" && res.Replaced != res.Installation:
		fmt.Fprintf(stdout, "installation %s (--force: it replaces installation %s)\n", res.Installation, res.Replaced)
	default:
		fmt.Fprintf(stdout, "installation %s\n", res.Installation)
	}
	if res.Aside != "" {
		fmt.Fprintf(stdout, "the store it replaced is kept as %s\n", res.Aside)
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
	p, err := dataPlan(cfgPath, data)
	if err != nil {
		return nil, err
	}
	return p.Config, nil
}

// dataPlan is the compiled configuration of --config and --data.
func dataPlan(cfgPath, data string) (*plan.Plan, error) {
	p, _, err := loadPlan(cfgPath, func(c *config.Config) {
		if data != "" {
			c.DataDir = data
		}
	})
	return p, err
}

// openExisting opens the store of a command that works on one already
// made: a SQLite file that is not there is an error naming it, not a new
// empty store.
func openExisting(ctx context.Context, cfg *config.Config, cmd string) (*sqlstore.Store, error) {
	if cfg.Store.Engine != "postgres" {
		if _, err := os.Stat(cfg.StorePath()); err != nil {
			return nil, fmt.Errorf("%s: no store at %s (give --data or --config): %w", cmd, cfg.StorePath(), err)
		}
	}
	return app.OpenStore(ctx, cfg, false, slog.New(slog.DiscardHandler))
}
