package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/store"
)

// diskFloor watches the free space of the disk that holds the store and
// the embedded queue. Below its floor, ingest stops writing: the messages
// stay in the queue, unacknowledged (back-pressure, as for a database
// outage), until space comes back; /readyz and every page say so.
type diskFloor struct {
	path string
	// min is store.min_free; the floor is the smaller of it and 5 % of
	// the disk, so that a small disk is not always below it.
	min int64
	m   *metrics.Metrics
	log *slog.Logger

	mu      sync.Mutex
	checked time.Time
	err     error
	logged  time.Time
}

// check answers whether there is room, from a look at the disk at most
// every second: an error saying how much is free when below the floor.
func (d *diskFloor) check(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Since(d.checked) < time.Second {
		return d.err
	}
	d.checked = time.Now()
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.path, &st); err != nil {
		// Not knowing is no reason to stop: the writes say when the
		// disk is full.
		d.err = nil
		return nil
	}
	free, size := int64(st.Bavail)*int64(st.Bsize), int64(st.Blocks)*int64(st.Bsize)
	floor := min(d.min, size/20)
	d.m.DiskFree.Set(float64(free))
	d.m.DiskFloor.Set(float64(floor))
	was := d.err
	d.err = nil
	if free < floor {
		d.err = fmt.Errorf("the disk of %s has %s free, below its floor of %s (store.min_free, at most 5%% of the disk): "+
			"ingest holds the messages in the queue until space is freed", d.path, humanize.IBytes(uint64(free)), humanize.IBytes(uint64(floor)))
	}
	switch {
	case d.err != nil && (was == nil || time.Since(d.logged) >= 5*time.Minute):
		d.logged = time.Now()
		d.log.Error("disk space low: ingest holds", "path", d.path, "free", humanize.IBytes(uint64(free)), "floor", humanize.IBytes(uint64(floor)))
	case d.err == nil && was != nil:
		d.log.Info("disk space back: ingest resumes", "path", d.path, "free", humanize.IBytes(uint64(free)))
	}
	return d.err
}

// banner is what the pages say while the disk is below its floor.
func (d *diskFloor) banner() string {
	if err := d.check(context.Background()); err != nil {
		return "Not storing new readings: " + err.Error() + "."
	}
	return ""
}

// floorWriter is a store.Writer that refuses to write, as an outage,
// while the disk is below its floor.
type floorWriter struct {
	store.Writer
	floor *diskFloor
}

func (w floorWriter) Write(ctx context.Context, b store.Batch) (store.WriteResult, error) {
	if err := w.floor.check(ctx); err != nil {
		return store.WriteResult{}, store.Unavailable(err)
	}
	return w.Writer.Write(ctx, b)
}
