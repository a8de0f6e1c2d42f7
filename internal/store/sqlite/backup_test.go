package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
	"github.com/sensorhub/sensorhub/internal/store/storetest"
)

// TestBackupWhileWritingAndRestore: a backup taken while a writer goes on
// is a whole store (it checks, and holds every reading written before it
// started); a restore is refused while a store has the file open, refuses
// a file that is not a store, and otherwise puts the backup in place,
// keeping the replaced file beside it.
func TestBackupWhileWritingAndRestore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "sensorhub.db")
	s, err := sqlite.Open(ctx, path, sqlstore.Options{Location: storetest.Location, Compact: true})
	if err != nil {
		t.Fatal(err)
	}
	base := storetest.Payloads(t, "centrale.jsonl")[0]
	at := func(i int) reading.Reading {
		r := base
		r.Time, r.MsgCount = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Second), int64(i)
		r.Fields = map[string]float64{"E": float64(i)}
		return r
	}
	var rs []reading.Reading
	for i := range 5000 {
		rs = append(rs, at(i))
	}
	if _, err := s.Write(ctx, store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 5000; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.Write(ctx, store.Batch{Readings: []reading.Reading{at(i)}}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	backup := filepath.Join(dir, "backups", "b.db")
	err = sqlite.Backup(ctx, s, backup)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlite.Backup(ctx, s, backup); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a backup over an existing file: %v", err)
	}
	if v, err := sqlite.Check(ctx, backup); err != nil || v != sqlstore.SchemaVersion {
		t.Fatalf("the backup checks: %d %v", v, err)
	}
	k := store.DeviceKey{Customer: base.Customer, Sensor: base.Sensor, Device: base.Device}
	devs, _ := s.Devices(ctx, store.DeviceFilter{})
	written := devs[0].Readings

	if _, err := sqlite.Restore(ctx, backup, path); !errors.Is(err, sqlite.ErrRunning) {
		t.Errorf("a restore while the store is open: %v, want ErrRunning", err)
	}
	s.Close()
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte("not a database at all, but long enough to look like one? no."), 0o600)
	if _, err := sqlite.Restore(ctx, junk, path); err == nil || !strings.Contains(err.Error(), "nothing was replaced") {
		t.Errorf("restoring a file that is not a store: %v", err)
	}
	aside, err := sqlite.Restore(ctx, backup, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(aside); err != nil {
		t.Errorf("the replaced file is not kept: %v", err)
	}
	s, err = sqlite.Open(ctx, path, sqlstore.Options{Location: storetest.Location})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pts, _, err := s.Points(ctx, store.RawQuery{DeviceKey: k, Field: "E", From: at(0).Time, To: at(1 << 20).Time})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) < 5000 || int64(len(pts)) > written {
		t.Fatalf("the restored store holds %d readings; want at least the 5000 written before the backup, at most the %d written in all", len(pts), written)
	}
	for i, p := range pts {
		if p.Value != float64(i) {
			t.Fatalf("reading %d of the restored store is %v: the backup is not one moment's", i, p.Value)
		}
	}
	t.Logf("backup of %d readings taken while %d more were written", len(pts), written-int64(len(pts)))
}
