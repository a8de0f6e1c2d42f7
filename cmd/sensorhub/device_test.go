package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
)

// TestDeviceRemoveCommand: sensorhub device rm asks for the device's id
// again, removes nothing without it, and with it removes the device and
// its readings, leaves the others, and logs who did it.
func TestDeviceRemoveCommand(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "sensorhub.db"), sqlstore.Options{Location: config.Default().Location()})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	var rs []reading.Reading
	for _, dev := range []string{"201", "202"} {
		for i := range 3 {
			rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "air", Device: dev, Time: now.Add(time.Duration(i) * time.Second),
				Received: now, MsgCount: int64(i), Fields: map[string]float64{"Pres": 6}})
		}
	}
	if _, err := st.Write(ctx, store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	rm := func(stdin string, extra ...string) (string, error) {
		cmd := exec.Command(binary, append([]string{"device", "rm", "--data", dir, "--customer", "finemeca", "--sensor", "air", "--device", "201"}, extra...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := rm("202\n"); err == nil || !strings.Contains(out, "not confirmed; nothing removed") {
		t.Fatalf("a wrong confirmation: %v\n%s", err, out)
	}
	out, err := rm("201\n")
	if err != nil || !strings.Contains(out, "removed finemeca/air/201 and its 3 readings") || !strings.Contains(out, "by=") {
		t.Fatalf("device rm: %v\n%s", err, out)
	}
	if out, err := rm("", "--yes"); err == nil || !strings.Contains(out, "no device finemeca/air/201") {
		t.Errorf("removing it again: %v\n%s", err, out)
	}
	if out, err := exec.Command(binary, "device", "rm", "--data", t.TempDir(), "--customer", "c", "--sensor", "s", "--device", "d").CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "no store at") {
		t.Errorf("device rm on a directory without a store: %v\n%s", err, out)
	}

	st, err = sqlite.Open(ctx, filepath.Join(dir, "sensorhub.db"), sqlstore.Options{Location: config.Default().Location()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	devs, _ := st.Devices(ctx, store.DeviceFilter{})
	if len(devs) != 1 || devs[0].Device != "202" || devs[0].Readings != 3 {
		t.Errorf("devices left: %+v, want 202 with its 3 readings", devs)
	}
}
