package promapi

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
)

// counting is the SQLite store, counting its KindFields answers.
type counting struct {
	*sqlstore.Store
	asked int
}

func (c *counting) KindFields(ctx context.Context, f store.DeviceFilter) ([]store.KindField, error) {
	c.asked++
	return c.Store.KindFields(ctx, f)
}

// TestKindFieldsKeptAWhile: the pickers' listing of the kinds' fields is
// read from the store once per filter for kindFieldsFor, then again.
func TestKindFieldsKeptAWhile(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sensorhub.db"), sqlstore.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := &counting{Store: st}
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	cache := &kindFieldsCache{now: func() time.Time { return now }}
	all, acme := store.DeviceFilter{}, store.DeviceFilter{Customers: []string{"acme"}}
	for _, f := range []store.DeviceFilter{all, all, acme, all, acme} {
		if _, err := cache.kindFields(ctx, c, f); err != nil {
			t.Fatal(err)
		}
	}
	if c.asked != 2 {
		t.Errorf("the store was asked %d times for two filters, want 2", c.asked)
	}
	now = now.Add(kindFieldsFor)
	if _, err := cache.kindFields(ctx, c, all); err != nil || c.asked != 3 {
		t.Errorf("after %s: asked %d times (%v), want 3", kindFieldsFor, c.asked, err)
	}
}
