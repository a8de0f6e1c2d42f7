package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
	"github.com/sensorhub/sensorhub/internal/store/storetest"
)

// TestRolledKeys: the identities of the readings of a day that retention
// rolled up take a few bytes a day, and go with the day's aggregates when
// those are past their age, and with the device.
func TestRolledKeys(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sensorhub.db"), sqlstore.Options{Location: storetest.Location})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Date(2025, 3, 10, 0, 0, 0, 0, storetest.Location)
	var rs []reading.Reading
	for _, dev := range []string{"301", "302"} {
		for i := range 10 * 1440 {
			at := start.Add(time.Duration(i)*time.Minute + time.Duration(i*7919%1000)*time.Millisecond) // a clock that jitters
			rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "centrale", Device: dev, Time: at, Received: at,
				MsgCount: int64(i), Fields: map[string]float64{"E": float64(i)}})
		}
	}
	if _, err := s.Write(ctx, store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	keys := func() (days, size int64) {
		t.Helper()
		if err := s.DB().QueryRow(`SELECT COUNT(*), COALESCE(SUM(LENGTH(identities)), 0) FROM rolled_keys`).Scan(&days, &size); err != nil {
			t.Fatal(err)
		}
		return days, size
	}
	now := start.AddDate(0, 0, 10)
	ages := store.Ages{Raw: 2 * 24 * time.Hour}
	policy := store.Retention{Ages: func(_, _ string) store.Ages { return ages }}
	removed, err := s.ApplyRetention(ctx, policy, now)
	if err != nil || removed.Readings != 2*8*1440 {
		t.Fatalf("retention: %+v %v, want 8 days of both devices removed", removed, err)
	}
	days, size := keys()
	t.Logf("%d readings' identities in %d bytes: %.2f a reading", removed.Readings, size, float64(size)/float64(removed.Readings))
	if days != 16 || size > removed.Readings*3/2 {
		t.Errorf("%d days of identities in %d bytes, want 16 days in at most 1.5 bytes a reading", days, size)
	}
	ages.Daily = 5 * 24 * time.Hour
	if _, err := s.ApplyRetention(ctx, policy, now); err != nil {
		t.Fatal(err)
	}
	if days, _ := keys(); days != 2*3 {
		t.Errorf("after the daily aggregates of the first 5 days went: %d days of identities, want the 3 days left of each device", days)
	}
	if _, err := s.RemoveDevice(ctx, store.DeviceKey{Customer: "finemeca", Sensor: "centrale", Device: "301"}); err != nil {
		t.Fatal(err)
	}
	if days, _ := keys(); days != 3 {
		t.Errorf("after a device was removed: %d days of identities, want the other's 3", days)
	}
}
