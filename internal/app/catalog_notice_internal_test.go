package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/catalog"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
)

// TestCatalogNoticeOnTheQueue: a change of the catalog made by one
// process reaches another through the queue, which then applies it
// without its poll of the store (set to an hour here).
func TestCatalogNoticeOnTheQueue(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	q, err := OpenQueue(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	st, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "sensorhub.db"), sqlstore.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base := catalog.Base{Config: cfg}
	p, err := base.Load(ctx, st, log)
	if err != nil {
		t.Fatal(err)
	}

	// The editing process and the one told, each with its stage.
	editor := newCatalogStage(base, st, q, plan.NewLive(p), log)
	editor.poll = time.Hour
	told := newCatalogStage(base, st, q, plan.NewLive(p), log)
	told.poll = time.Hour
	for _, s := range []*catalogStage{editor, told} {
		if err := s.start(ctx); err != nil {
			t.Fatal(err)
		}
		defer s.stop(ctx)
	}
	applied := make(chan int64, 10)
	told.live.OnChange(func(p *plan.Plan) { applied <- p.Version })

	// The tail starts asynchronously: change the catalog until the told
	// process hears of it (a customer more each time).
	c := &catalog.Catalog{Base: base, Store: announcing{st, editor}, Log: log}
	for i := 0; ; i++ {
		name := "plant" + string(rune('a'+i))
		v, err := c.Put(ctx, "admin", catalog.KindOf("customers"), name, []byte(`{}`), 0)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-applied:
			if got < v-int64(i) || got > v {
				t.Fatalf("applied version %d, the catalog is at %d", got, v)
			}
			return
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
			t.Fatal("the other process never heard of the change")
		}
	}
}

// The store's catalog is what the stages follow.
var _ store.Catalog = announcing{}
