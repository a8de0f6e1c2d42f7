package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/catalog"
	"github.com/sensorhub/sensorhub/internal/store"
)

const catalogUsage = `usage: sensorhub catalog export [--config FILE] [--data DIR] > catalog.yaml
       sensorhub catalog apply [--config FILE] [--data DIR] [--dry-run] [--prune] catalog.yaml

export prints the catalog (the customers, sensor kinds, notifiers, rules and
report schedules edited in the browser or over the API) as YAML, secrets in
clear. apply makes the store's catalog hold the items of such a file: it
prints each change (+ new, ~ changed, - deleted), checks them together as
the API does, and makes them at once, unless --dry-run. --prune deletes the
items the file does not have. A running sensorhub applies the change within
seconds. The configuration file's own items are not in the catalog.
`

// cmdCatalog exports or applies the catalog.
func cmdCatalog(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(stderr, catalogUsage)
		return flag.ErrHelp
	}
	fs := newFlags("catalog "+args[0], stderr)
	fs.Usage = func() { fmt.Fprint(stderr, catalogUsage) }
	cfgPath := fs.String("config", "", "configuration file")
	data := fs.String("data", "", "data directory (overrides data_dir)")
	dryRun := fs.Bool("dry-run", false, "apply: print the changes, make none")
	prune := fs.Bool("prune", false, "apply: delete the items the file does not have")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	p, err := dataPlan(*cfgPath, *data)
	if err != nil {
		return err
	}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	switch args[0] {
	case "export":
		if fs.NArg() != 0 {
			return errors.New("catalog export: no argument expected (the file is written to standard output)")
		}
		st, err := openExisting(ctx, p.Config, "catalog export")
		if err != nil {
			return err
		}
		defer st.Close()
		out, err := catalog.Export(ctx, st)
		if err != nil {
			return err
		}
		_, err = stdout.Write(out)
		return err
	case "apply":
		if fs.NArg() != 1 {
			return errors.New("catalog apply: give the file to apply (see sensorhub catalog --help)")
		}
		path := fs.Arg(0)
		file, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("catalog apply: %w", err)
		}
		st, err := app.OpenStore(ctx, p.Config, false, log)
		if err != nil {
			return err
		}
		defer st.Close()
		c := &catalog.Catalog{Base: catalog.Base{Config: p.Config, File: p.File}, Store: st, Log: log}
		// As a sensorhub started on this store would: the built-in items
		// are in the catalog.
		if !*dryRun {
			if err := c.Seed(ctx, st); err != nil {
				return err
			}
		}
		changes, lines, err := c.Diff(ctx, path, file, *prune)
		if err != nil {
			return fmt.Errorf("catalog apply: nothing changed:\n%w", err)
		}
		for _, l := range lines {
			fmt.Fprintln(stdout, l)
		}
		switch {
		case len(changes) == 0:
			fmt.Fprintln(stdout, "the catalog already holds the file's items: nothing to change")
			return nil
		case *dryRun:
			fmt.Fprintf(stdout, "dry run: %d changes, none made\n", len(changes))
			return nil
		}
		v, err := st.ChangeCatalog(ctx, "sensorhub catalog apply", changes)
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("catalog apply: the catalog changed meanwhile; nothing changed, run it again: %w", err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d changes made: catalog version %d\n", len(changes), v)
		return nil
	}
	return fmt.Errorf("catalog: unknown subcommand %q (export or apply)", args[0])
}
