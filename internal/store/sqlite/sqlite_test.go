package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
	"github.com/sensorhub/sensorhub/internal/store/storetest"
)

func open(t *testing.T, loc *time.Location) store.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sensorhub.db"), sqlstore.Options{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func TestTwoStoresOnOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sensorhub.db")
	storetest.TwoStores(t, func() (store.Store, error) {
		return sqlite.Open(context.Background(), path, sqlstore.Options{Location: storetest.Location})
	})
}

func TestFourWritersOnOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sensorhub.db")
	storetest.FourWriters(t, func() (store.Store, error) {
		return sqlite.Open(context.Background(), path, sqlstore.Options{Location: storetest.Location})
	})
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sensorhub.db")
	s, err := sqlite.Open(context.Background(), path, sqlstore.Options{Location: storetest.Location, Compact: true})
	if err != nil {
		t.Fatal(err)
	}
	rs := storetest.Payloads(t, "air.jsonl")
	if _, err := s.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	s.Close() // folds the recent readings into chunks
	s, err = sqlite.Open(context.Background(), path, sqlstore.Options{Location: storetest.Location})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Write(context.Background(), store.Batch{Readings: rs})
	if err != nil {
		t.Fatal(err)
	}
	if res.Duplicates != 4 || res.Stored != 0 {
		t.Fatalf("rewrite after reopen: %+v, want 4 duplicates", res)
	}
}

// BenchmarkWriteBatch: see storetest.BenchWriteBatch.
func BenchmarkWriteBatch(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "sensorhub.db"), sqlstore.Options{Location: storetest.Location, Compact: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchWriteBatch(b, s)
}

// BenchmarkQueries times the pages' queries: see storetest.BenchQueries.
func BenchmarkQueries(b *testing.B) {
	storetest.BenchQueries(b, func(b *testing.B) (storetest.Compacted, func() store.Store) {
		path := filepath.Join(b.TempDir(), "sensorhub.db")
		open := func() *sqlstore.Store {
			s, err := sqlite.Open(context.Background(), path, sqlstore.Options{Location: storetest.Location})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}
		s := open()
		b.Cleanup(func() { s.Close() })
		return s, func() store.Store { return open() }
	})
}
