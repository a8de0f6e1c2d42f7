package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
)

// TestDeviceInvalidCommand: sensorhub device invalid add keeps an interval
// with its reason and who marked it, refuses an unknown device or a
// backwards interval, list shows it, rm removes it.
func TestDeviceInvalidCommand(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func() *sqlstore.Store {
		st, err := sqlite.Open(ctx, filepath.Join(dir, "sensorhub.db"), sqlstore.Options{Location: config.Default().Location()})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	now := time.Now().Truncate(time.Second)
	if _, err := st.Write(ctx, store.Batch{Readings: []reading.Reading{{Customer: "finemeca", Sensor: "centrale", Device: "301", Time: now,
		Received: now, MsgCount: 1, Fields: map[string]float64{"E": 1000}}}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	run := func(args ...string) (string, error) {
		out, err := exec.Command(binary, append([]string{"device", "invalid"}, append(args, "--data", dir)...)...).CombinedOutput()
		return string(out), err
	}
	add := []string{"add", "--customer", "finemeca", "--sensor", "centrale", "--from", "2025-11-05T10:00:00+01:00", "--to", "2025-11-05T11:00:00+01:00", "--reason", "meter on the test bench"}
	if out, err := run(append(add, "--device", "302")...); err == nil || !strings.Contains(out, "no device finemeca/centrale/302") {
		t.Errorf("marking an unknown device: %v\n%s", err, out)
	}
	if out, err := run("add", "--customer", "finemeca", "--sensor", "centrale", "--device", "301", "--from", "2025-11-05T11:00:00+01:00",
		"--to", "2025-11-05T10:00:00+01:00", "--reason", "x"); err == nil || !strings.Contains(out, "is not before") {
		t.Errorf("a backwards interval: %v\n%s", err, out)
	}
	out, err := run(append(add, "--device", "301")...)
	id := regexp.MustCompile(`\(id (\d+)\)`).FindStringSubmatch(out)
	if err != nil || id == nil || !strings.Contains(out, "interval marked invalid") || !strings.Contains(out, "by=") {
		t.Fatalf("device invalid add: %v\n%s", err, out)
	}
	out, err = run("list", "--customer", "finemeca")
	if err != nil || !strings.Contains(out, "meter on the test bench") || !strings.Contains(out, "2025-11-05T10:00:00+01:00") {
		t.Errorf("device invalid list: %v\n%s", err, out)
	}
	if out, err := run("rm", "--customer", "acme", "--id", id[1]); err == nil || !strings.Contains(out, "not found") {
		t.Errorf("removing it as another customer's: %v\n%s", err, out)
	}
	if out, err := run("rm", "--customer", "finemeca", "--id", id[1]); err != nil || !strings.Contains(out, "removed invalid interval "+id[1]) {
		t.Errorf("device invalid rm: %v\n%s", err, out)
	}
	st = open()
	defer st.Close()
	if ivs, err := st.InvalidIntervals(ctx, store.InvalidQuery{Customer: "finemeca"}); err != nil || len(ivs) != 0 {
		t.Errorf("intervals left: %+v, %v; want none", ivs, err)
	}
}
