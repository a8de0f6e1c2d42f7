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
