package sqlstore_test

import (
	"context"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/sensorhub/sensorhub/internal/store/postgres"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
	"github.com/sensorhub/sensorhub/internal/store/storetest"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestInstallationID: a new store is given an installation id, which
// stays the same when it is opened again; a store of schema 120 gets one
// at the upgrade; two stores have two ids. On both engines.
func TestInstallationID(t *testing.T) {
	engines := map[string]func(t *testing.T) func() (*sqlstore.Store, error){
		"sqlite": func(t *testing.T) func() (*sqlstore.Store, error) {
			path := filepath.Join(t.TempDir(), "sensorhub.db")
			return func() (*sqlstore.Store, error) {
				return sqlite.Open(context.Background(), path, sqlstore.Options{Location: storetest.Location})
			}
		},
		"postgres": func(t *testing.T) func() (*sqlstore.Store, error) {
			url := testenv.PostgresSchema(t)
			return func() (*sqlstore.Store, error) {
				return postgres.Open(context.Background(), url, sqlstore.Options{Location: storetest.Location})
			}
		},
	}
	for name, engine := range engines {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			open := engine(t)
			id := func() string {
				t.Helper()
				s, err := open()
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				id, err := s.Installation(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return id
			}
			first := id()
			if !uuidPattern.MatchString(first) {
				t.Fatalf("installation id %q, want a random UUID", first)
			}
			if again := id(); again != first {
				t.Errorf("opened again, the installation is %q; it was %q", again, first)
			}
			if other := id2(t, engine); other == first {
				t.Errorf("two stores share the installation id %s", first)
			}

			// The store as the release before left it: schema 120, no
			// installation table.
			s, err := open()
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range append(undo130, `UPDATE schema_version SET version = 120`) {
				if _, err := s.DB().Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			upgraded := id()
			if !uuidPattern.MatchString(upgraded) {
				t.Fatalf("after the upgrade from schema 120 the installation id is %q, want a UUID", upgraded)
			}
			if again := id(); again != upgraded {
				t.Errorf("opened again after the upgrade, the installation is %q; it was %q", again, upgraded)
			}
		})
	}
}

// id2 is the installation id of another new store of the engine.
func id2(t *testing.T, engine func(t *testing.T) func() (*sqlstore.Store, error)) string {
	t.Helper()
	s, err := engine(t)()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := s.Installation(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return id
}
