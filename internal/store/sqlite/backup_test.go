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

	if _, err := sqlite.Restore(ctx, backup, path, false); !errors.Is(err, sqlite.ErrRunning) {
		t.Errorf("a restore while the store is open: %v, want ErrRunning", err)
	}
	s.Close()
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte("not a database at all, but long enough to look like one? no."), 0o600)
	if _, err := sqlite.Restore(ctx, junk, path, false); err == nil || !strings.Contains(err.Error(), "nothing was replaced") {
		t.Errorf("restoring a file that is not a store: %v", err)
	}
	res, err := sqlite.Restore(ctx, backup, path, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(res.Aside); err != nil {
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

// newStore makes a store at path holding n readings of one device, and
// returns its installation id.
func newStore(t *testing.T, path string, n int) string {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlstore.Options{Location: storetest.Location})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addReadings(t, s, 0, n)
	id, err := s.Installation(ctx)
	if err != nil || id == "" {
		t.Fatalf("installation %q %v", id, err)
	}
	return id
}

// addReadings writes the readings from..to-1 of one device.
func addReadings(t *testing.T, s *sqlstore.Store, from, to int) {
	t.Helper()
	base := storetest.Payloads(t, "centrale.jsonl")[0]
	var rs []reading.Reading
	for i := from; i < to; i++ {
		r := base
		r.Time, r.MsgCount = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Second), int64(i)
		r.Fields = map[string]float64{"E": float64(i)}
		rs = append(rs, r)
	}
	if _, err := s.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
}

// readingsIn is how many readings the store file at path holds; it
// opens a copy, so that the file is left as it is.
func readingsIn(t *testing.T, path string) int64 {
	t.Helper()
	ctx := context.Background()
	if _, err := sqlite.Check(ctx, path); err != nil {
		t.Fatalf("%s does not check: %v", path, err)
	}
	cp := filepath.Join(t.TempDir(), "copy.db")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cp, b, 0o600)
	for _, ext := range []string{"-wal", "-shm"} {
		if b, err := os.ReadFile(path + ext); err == nil {
			os.WriteFile(cp+ext, b, 0o600)
		}
	}
	s, err := sqlite.Open(ctx, cp, sqlstore.Options{Location: storetest.Location})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	devs, err := s.Devices(ctx, store.DeviceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, d := range devs {
		n += d.Readings
	}
	return n
}

// TestRestoresInQuickSuccession: restores one right after another each
// keep the store they replace under a name of its own: none is written
// over, and each is a whole store holding what it held.
func TestRestoresInQuickSuccession(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "sensorhub.db")
	newStore(t, path, 10)
	backup := filepath.Join(dir, "b.db")
	s, err := sqlite.Open(ctx, path, sqlstore.Options{Location: storetest.Location})
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlite.Backup(ctx, s, backup); err != nil {
		t.Fatal(err)
	}
	addReadings(t, s, 10, 25)
	s.Close()

	// The store holds 25 readings; each restore puts the backup's 10 in
	// place.
	want := []int64{25, 10, 10}
	var asides []string
	for range want {
		res, err := sqlite.Restore(ctx, backup, path, false)
		if err != nil {
			t.Fatal(err)
		}
		asides = append(asides, res.Aside)
	}
	seen := map[string]bool{}
	for i, aside := range asides {
		if seen[aside] {
			t.Fatalf("restores %v keep two replaced stores under one name %s", asides, aside)
		}
		seen[aside] = true
		if n := readingsIn(t, aside); n != want[i] {
			t.Errorf("the store replaced by restore %d, kept as %s, holds %d readings; it held %d", i+1, aside, n, want[i])
		}
	}
	if n := readingsIn(t, path); n != 10 {
		t.Errorf("the restored store holds %d readings, want the backup's 10", n)
	}
}

// TestRestoreOfAnotherInstallation: a backup carries its store's
// installation id; a restore refuses the backup of another installation,
// naming both, and replaces nothing, unless forced; any backup restores
// where there is no store.
func TestRestoreOfAnotherInstallation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "site-a", "sensorhub.db")
	idA := newStore(t, path, 5)
	otherPath := filepath.Join(dir, "site-b", "sensorhub.db")
	idB := newStore(t, otherPath, 12)
	if idA == idB {
		t.Fatalf("two stores, one installation id %s", idA)
	}
	other, err := sqlite.Open(ctx, otherPath, sqlstore.Options{Location: storetest.Location})
	if err != nil {
		t.Fatal(err)
	}
	backupB := filepath.Join(dir, "site-b.db")
	err = sqlite.Backup(ctx, other, backupB)
	other.Close()
	if err != nil {
		t.Fatal(err)
	}
	if id, err := sqlite.Installation(ctx, backupB); err != nil || id != idB {
		t.Fatalf("the backup's installation %q %v, want its store's %s", id, err, idB)
	}

	res, err := sqlite.Restore(ctx, backupB, path, false)
	var refused *sqlite.OtherInstallationError
	if !errors.As(err, &refused) || refused.Backup != idB || refused.Store != idA ||
		!strings.Contains(err.Error(), idA) || !strings.Contains(err.Error(), idB) || !strings.Contains(err.Error(), "nothing was replaced") {
		t.Fatalf("restoring another installation's backup: %+v %v; want it refused naming %s and %s", res, err, idB, idA)
	}
	if id, _ := sqlite.Installation(ctx, path); id != idA || readingsIn(t, path) != 5 {
		t.Fatalf("after the refusal the store is installation %s; want %s, untouched", id, idA)
	}
	if matches, _ := filepath.Glob(path + ".*"); len(matches) != 1 || !strings.HasSuffix(matches[0], ".lock") {
		t.Errorf("after the refusal, beside the store: %v; want only its lock", matches)
	}

	res, err = sqlite.Restore(ctx, backupB, path, true)
	if err != nil {
		t.Fatalf("forced: %v", err)
	}
	if res.Installation != idB || res.Replaced != idA || res.Aside == "" {
		t.Errorf("forced restore %+v; want installation %s replacing %s, kept aside", res, idB, idA)
	}
	if id, _ := sqlite.Installation(ctx, path); id != idB || readingsIn(t, path) != 12 {
		t.Errorf("after the forced restore the store is installation %s; want %s with its 12 readings", id, idB)
	}
	if id, _ := sqlite.Installation(ctx, res.Aside); id != idA {
		t.Errorf("the replaced store kept as %s is installation %s, want %s", res.Aside, id, idA)
	}

	empty := filepath.Join(dir, "new-site", "sensorhub.db")
	res, err = sqlite.Restore(ctx, backupB, empty, false)
	if err != nil || res.Aside != "" || res.Installation != idB {
		t.Errorf("restoring where there is no store: %+v %v", res, err)
	}
}
