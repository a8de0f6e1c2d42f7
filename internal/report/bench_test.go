package report_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/report"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
	"github.com/sensorhub/sensorhub/internal/store/storetest"
)

// BenchmarkReport is the week's report of a customer of n devices, one
// day of sparse readings each (storetest.LoadCustomer), on SQLite: its
// time and the bytes it allocates.
func BenchmarkReport(b *testing.B) {
	for _, n := range []int{1000, 40000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			cfg := config.Default()
			st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "s.db"), sqlstore.Options{Location: brussels})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			day := local(2025, 10, 22, 0, 0)
			storetest.LoadCustomer(b, st, "finemeca", n, day)
			src := &report.Source{Store: st, Config: cfg, Location: brussels}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r, err := src.Make(context.Background(), "finemeca", report.Week(day, brussels))
				if err != nil {
					b.Fatal(err)
				}
				if len(r.Quality.Devices) == 0 {
					b.Fatal("no device in the report")
				}
			}
		})
	}
}
