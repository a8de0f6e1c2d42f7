package catalog_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/catalog"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
)

func ruleNames(p *plan.Plan) []string {
	var out []string
	for _, r := range p.Rules {
		out = append(out, r.Name)
	}
	slices.Sort(out)
	return out
}

// TestUpgradeKeepsTheRules: a store of the release before, whose catalog
// holds a rule added over the API (and no built-in item), starts with the
// same rules as before, with a file that sets none (the built-in ones and
// the catalog's) and with one that sets some (the file's and the
// catalog's), and again after a restart.
func TestUpgradeKeepsTheRules(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	extra := []store.CatalogChange{{Kind: store.CatalogRules, Name: "extra", Spec: []byte(`{"sensor":"air","when":"Pres > 9","severity":"info"}`)}}
	for name, c := range map[string]struct {
		file string
		want []string
	}{
		"no rules in the file": {"customers: [finemeca]\n", []string{"air-leak", "device-silent", "extra", "message-loss", "weak-signal"}},
		"rules in the file":    {"alerts:\n  rules:\n    - {name: hot, sensor: devicev01, when: \"Temp > 50\", severity: warning}\n", []string{"extra", "hot"}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "sensorhub.yaml")
			os.WriteFile(path, []byte(c.file), 0o600)
			cfg, f, err := config.LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			st, err := sqlite.Open(ctx, filepath.Join(dir, "s.db"), sqlstore.Options{Location: time.UTC})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.ChangeCatalog(ctx, "admin", extra); err != nil {
				t.Fatal(err)
			}
			base := catalog.Base{Config: cfg, File: f}
			for start := range 2 {
				p, err := base.Load(ctx, st, log)
				if err != nil {
					t.Fatal(err)
				}
				if got := ruleNames(p); !slices.Equal(got, c.want) {
					t.Errorf("start %d: rules %v, want %v", start+1, got, c.want)
				}
			}
		})
	}
}

// TestBrokenItemBlocksNothing: a rule of the catalog that no longer fits
// (the sensor kind it watches was taken out) is left out of the plan, and
// blocks no other change: the rules before and after it are deleted.
func TestBrokenItemBlocksNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "s.db"), sqlstore.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := &catalog.Catalog{Base: catalog.Base{Config: config.Default()}, Store: st, Log: slog.New(slog.DiscardHandler)}
	if err := c.Seed(ctx, st); err != nil {
		t.Fatal(err)
	}
	rules := catalog.KindOf(store.CatalogRules)
	for _, name := range []string{"aa", "zz"} {
		if _, err := c.Put(ctx, "admin", rules, name, []byte(`{"sensor":"air","when":"Pres > 9","severity":"info"}`), 0); err != nil {
			t.Fatal(err)
		}
	}
	// zz's sensor kind goes: it no longer fits.
	if _, err := st.ChangeCatalog(ctx, "admin", []store.CatalogChange{{Kind: store.CatalogRules, Name: "zz", Spec: []byte(`{"name":"zz","sensor":"gone","when":"Pres > 9","severity":"info"}`)}}); err != nil {
		t.Fatal(err)
	}
	p, err := c.Load(ctx, st, c.Log)
	if err != nil {
		t.Fatal(err)
	}
	if got := ruleNames(p); slices.Contains(got, "zz") || !slices.Contains(got, "aa") {
		t.Errorf("rules in force %v: want aa, and zz left out", got)
	}
	for _, name := range []string{"aa", "weak-signal"} {
		if _, err := c.Delete(ctx, "admin", rules, name, 0); err != nil {
			t.Errorf("delete %s beside a broken rule: %v", name, err)
		}
	}
}

// TestBuiltInsOfALaterRelease: a built-in item a later release adds is
// moved into the catalog at its first start; one deleted stays deleted.
func TestBuiltInsOfALaterRelease(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), sqlstore.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	before := config.Default() // a release without the weather kind
	delete(before.Sensors, "devicev01")
	if _, err := (catalog.Base{Config: before}).Load(ctx, st, log); err != nil {
		t.Fatal(err)
	}
	c := &catalog.Catalog{Base: catalog.Base{Config: config.Default()}, Store: st, Log: log}
	if _, err := c.Delete(ctx, "admin", catalog.KindOf(store.CatalogRules), "weak-signal", 0); err != nil {
		t.Fatal(err)
	}
	for start := range 2 {
		p, err := c.Load(ctx, st, log)
		if err != nil {
			t.Fatal(err)
		}
		if p.Config.Sensors["devicev01"] == nil {
			t.Errorf("start %d: the later release's built-in kind is not there", start+1)
		}
		if got := ruleNames(p); slices.Contains(got, "weak-signal") {
			t.Errorf("start %d: the deleted rule is back: %v", start+1, got)
		}
	}
	if _, err := c.Get(ctx, catalog.KindOf(store.CatalogSensors), "devicev01"); err != nil {
		t.Errorf("the later release's kind is not in the catalog: %v", err)
	}
}
