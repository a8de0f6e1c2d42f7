package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/postgres"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
	"github.com/sensorhub/sensorhub/internal/store/storetest"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

func open(t *testing.T, loc *time.Location) store.Store {
	s, err := postgres.Open(context.Background(), testenv.PostgresSchema(t), sqlstore.Options{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func TestTwoStoresOnOneDatabase(t *testing.T) {
	url := testenv.PostgresSchema(t)
	storetest.TwoStores(t, func() (store.Store, error) {
		return postgres.Open(context.Background(), url, sqlstore.Options{Location: storetest.Location})
	})
}

// BenchmarkWriteBatch: see storetest.BenchWriteBatch.
func BenchmarkWriteBatch(b *testing.B) {
	s, err := postgres.Open(context.Background(), testenv.PostgresSchema(b), sqlstore.Options{Location: storetest.Location, Compact: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchWriteBatch(b, s)
}

// BenchmarkQueries times the pages' queries: see storetest.BenchQueries.
func BenchmarkQueries(b *testing.B) {
	storetest.BenchQueries(b, func(b *testing.B) (storetest.Compacted, func() store.Store) {
		url := testenv.PostgresSchema(b)
		open := func() *sqlstore.Store {
			s, err := postgres.Open(context.Background(), url, sqlstore.Options{Location: storetest.Location})
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

func TestFourWritersOnOneDatabase(t *testing.T) {
	url := testenv.PostgresSchema(t)
	storetest.FourWriters(t, func() (store.Store, error) {
		return postgres.Open(context.Background(), url, sqlstore.Options{Location: storetest.Location})
	})
}
