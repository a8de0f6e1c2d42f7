// Package catalog is what operators change while sensorhub runs:
// customers, sensor kinds, alert rules, notifiers and report schedules,
// kept in the store (store.Catalog) and added to the configuration file's.
// The file still works, and wins where it speaks: its items are
// provisioned, shown read only with the line that manages them. The
// built-in items (the defaults the file does not set) are moved into the
// catalog once, where they are edited like the others.
//
// Compile builds the plan of the file and the catalog; Follow builds it
// again whenever the catalog's version changes, for the stages to apply.
package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/store"
)

// ErrProvisioned is a change refused because the configuration file
// manages the item.
var ErrProvisioned = errors.New("managed in the configuration file")

// ErrNotFound is an item that does not exist.
var ErrNotFound = errors.New("no such item")

// ErrInUse is a deletion refused because other items name the item.
var ErrInUse = errors.New("in use")

// FieldError is an item refused for one of its fields.
type FieldError struct {
	Field, Msg string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// seedKind marks, in the store, that the built-in items were moved to
// the catalog.
const seedKind, seedName = "seed", "built-in"

// Base is the configuration the catalog adds to: the file's, validated,
// and the file it was read from (nil for none).
type Base struct {
	Config *config.Config
	File   *config.File
}

// source says where the base manages kind's item name: "FILE:LINE";
// "built in" for one of the defaults, as sensorhub gives it; "the
// configuration" for one set otherwise (by a program that starts
// sensorhub); empty when the base has no such item.
func (b Base) source(k Kind, name string) string {
	if !slices.Contains(k.names(b.Config), name) {
		return ""
	}
	if line := b.File.Sets(k.field(b.Config, name)); line > 0 {
		return fmt.Sprintf("%s:%d", b.File.Path, line)
	}
	if slices.Contains(k.names(defaults), name) {
		mine, _ := k.encode(b.Config, name)
		builtIn, _ := k.encode(defaults, name)
		if bytes.Equal(mine, builtIn) {
			return "built in"
		}
	}
	return "the configuration"
}

// defaults are sensorhub's built-in items.
var defaults = config.Default()

// provisioned says where the file manages kind's item name; empty when
// it does not.
func (b Base) provisioned(k Kind, name string) string {
	if src := b.source(k, name); src != "built in" {
		return src
	}
	return ""
}

// key identifies an item.
type key struct{ kind, name string }

// seedMark is the mark's item: the built-in items moved into the catalog,
// as "kind/name".
type seedMark struct {
	Items []string `json:"items"`
}

// seeded are the built-in items moved into the catalog, as "kind/name",
// and the mark's version; nil when none was.
func seeded(items []store.CatalogItem) (map[string]bool, int64) {
	i := slices.IndexFunc(items, func(it store.CatalogItem) bool { return it.Kind == seedKind })
	if i < 0 {
		return nil, 0
	}
	var m seedMark
	json.Unmarshal(items[i].Spec, &m)
	out := map[string]bool{}
	for _, n := range m.Items {
		out[n] = true
	}
	return out, items[i].Version
}

// builtIn says whether the base's item kind/name is one of sensorhub's
// defaults that was moved into the catalog.
func (b Base) builtIn(k Kind, name string, moved map[string]bool) bool {
	return moved[k.Name()+"/"+name] && b.source(k, name) == "built in"
}

// merge is the base's configuration with items added, but those of skip;
// it says which configuration path each item added is at. Once the
// built-in items are in the catalog, the base's are left out.
func (b Base) merge(items []store.CatalogItem, skip map[key]bool, log *slog.Logger) (*config.Config, map[string]key) {
	c := cloneConfig(b.Config)
	if moved, _ := seeded(items); moved != nil {
		for _, k := range Kinds {
			for _, name := range k.names(b.Config) {
				if b.builtIn(k, name, moved) {
					k.remove(c, name)
				}
			}
		}
	}
	at := map[string]key{}
	for _, k := range Kinds {
		var added []string
		for _, it := range items {
			id := key{it.Kind, it.Name}
			if it.Kind != k.Name() || skip[id] {
				continue
			}
			if src := b.provisioned(k, it.Name); src != "" {
				if log != nil {
					log.Warn("an item of the catalog has the name of one of the configuration file, which wins", "kind", it.Kind, "name", it.Name, "managed_in", src)
				}
				continue
			}
			if err := k.put(c, it.Name, it.Spec); err != nil {
				if log != nil {
					log.Error("an item of the catalog cannot be read; it is left out", "kind", it.Kind, "name", it.Name, "err", err)
				}
				continue
			}
			added = append(added, it.Name)
		}
		for _, name := range added {
			at[k.field(c, name)] = key{k.Name(), name}
			if k.Name() == store.CatalogCustomers {
				// A customer's prices are checked where the file has them.
				at["money.customers."+name] = key{k.Name(), name}
			}
		}
	}
	return c, at
}

// check validates c and compiles it.
func (b Base) check(c *config.Config) (*plan.Plan, error) {
	if err := plan.Check(c, b.File); err != nil {
		return nil, err
	}
	return plan.Compile(c, b.File)
}

// Compile builds the plan of the base and the catalog's items, of
// catalog version. An item that no longer fits (a sensor kind it names
// was taken out of the file) is left out, and logged, until it is fixed.
func (b Base) Compile(version int64, items []store.CatalogItem, log *slog.Logger) (*plan.Plan, error) {
	skip := map[key]bool{}
	for {
		c, at := b.merge(items, skip, log)
		p, err := b.check(c)
		if err == nil {
			p.Version = version
			return p, nil
		}
		blamed := false
		for _, e := range unjoin(err) {
			id, _, ok := blame(e, at)
			if !ok || skip[id] {
				continue
			}
			skip[id], blamed = true, true
			log.Error("an item of the catalog no longer fits the configuration; it is left out until it is fixed",
				"kind", id.kind, "name", id.name, "err", e)
		}
		if !blamed {
			return nil, err
		}
	}
}

// blame finds the item of at an error of the configuration is of, and
// the field it names within the item.
func blame(err error, at map[string]key) (key, string, bool) {
	fe, ok := errors.AsType[*config.FieldError](err)
	if !ok {
		return key{}, "", false
	}
	best := ""
	for path := range at {
		if (fe.Field == path || strings.HasPrefix(fe.Field, path+".")) && len(path) > len(best) {
			best = path
		}
	}
	if best == "" {
		return key{}, "", false
	}
	return at[best], strings.TrimPrefix(strings.TrimPrefix(fe.Field, best), "."), true
}

// unjoin is the errors errors.Join made err of, or err alone.
func unjoin(err error) []error {
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range multi.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

// Seed moves the built-in items (the defaults the file does not set: the
// sensor kinds, the rules when the file gives none, the customer) into
// the catalog, so that they are edited and deleted like the others; the
// plan is the same before and after. Each is moved once: one deleted
// stays deleted, and one that a later release adds is moved at the first
// start of that release. Of several processes starting at once, one does
// it.
func (b Base) Seed(ctx context.Context, cs store.Catalog) error {
	_, items, err := cs.ReadCatalog(ctx)
	if err != nil {
		return err
	}
	moved, version := seeded(items)
	mark := seedMark{}
	for n := range moved {
		mark.Items = append(mark.Items, n)
	}
	var changes []store.CatalogChange
	for _, k := range Kinds {
		for _, name := range k.names(b.Config) {
			if b.source(k, name) != "built in" || moved[k.Name()+"/"+name] {
				continue
			}
			mark.Items = append(mark.Items, k.Name()+"/"+name)
			if slices.ContainsFunc(items, func(it store.CatalogItem) bool { return it.Kind == k.Name() && it.Name == name }) {
				continue // one of the catalog has its name already
			}
			spec, customer := k.encode(b.Config, name)
			changes = append(changes, store.CatalogChange{Kind: k.Name(), Name: name, Customer: customer, Spec: spec, IfVersion: -1})
		}
	}
	if moved != nil && len(mark.Items) == len(moved) {
		return nil
	}
	slices.Sort(mark.Items)
	spec, _ := json.Marshal(mark)
	ifVersion := version
	if moved == nil {
		ifVersion = -1
	}
	changes = append(changes, store.CatalogChange{Kind: seedKind, Name: seedName, Spec: spec, IfVersion: ifVersion})
	if _, err := cs.ChangeCatalog(ctx, "sensorhub", changes); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("catalog: move the built-in items into the catalog: %w", err)
	}
	return nil
}

// Load seeds the catalog and compiles the plan of the base and the
// catalog, with its version.
func (b Base) Load(ctx context.Context, cs store.Catalog, log *slog.Logger) (*plan.Plan, error) {
	if err := b.Seed(ctx, cs); err != nil {
		return nil, err
	}
	return b.Current(ctx, cs, log)
}

// Follow follows the catalog from version seen: every poll, and at
// once on a receive from wake (a change announced), it reads the
// version, and when it changed, gives apply the plan built again. A
// catalog that cannot be read or built leaves the plan as it is (logged).
// It returns when ctx ends.
func (b Base) Follow(ctx context.Context, cs store.Catalog, seen int64, poll time.Duration, wake <-chan struct{}, log *slog.Logger, apply func(*plan.Plan)) {
	for {
		v, err := cs.CatalogVersion(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("cannot read the catalog's version; the plan stays as it is", "err", err)
		}
		if err == nil && v != seen {
			if v, items, err := cs.ReadCatalog(ctx); err != nil {
				log.Warn("cannot read the catalog; the plan stays as it is", "err", err)
			} else if p, err := b.Compile(v, items, log); err != nil {
				log.Error("the catalog does not compile with the configuration file; the plan stays as it is", "catalog_version", v, "err", err)
				seen = v
			} else {
				apply(p)
				seen = v
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-time.After(poll):
		}
	}
}
