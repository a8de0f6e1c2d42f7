package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestBackupAndRestore: a backup taken while a publisher sends checks;
// restore is refused while sensorhub runs; after a restore, sensorhub
// answers the devices, series and alerts that the backup held.
func TestBackupAndRestore(t *testing.T) {
	dir := t.TempDir()
	httpAddr, mqttAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	base := "http://" + httpAddr
	cfgPath := filepath.Join(t.TempDir(), "sensorhub.yaml")
	os.WriteFile(cfgPath, []byte(`mqtt: {builtin: {allow_anonymous: true}}
alerts:
  rules:
    - {name: leak-now, sensor: air, when: "Pres < OpenPres", severity: critical}
`), 0o600)
	var logs testenv.SyncBuffer
	startSensorhub := func(data string) *exec.Cmd {
		cmd := exec.Command(binary, "run", "--config", cfgPath, "--data", data, "--http", httpAddr, "--mqtt-listen", mqttAddr)
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitReady(t, base)
		return cmd
	}
	stop := func(cmd *exec.Cmd) {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
	proc := startSensorhub(dir)
	defer func() {
		stop(proc)
		if t.Failed() {
			t.Logf("sensorhub logs:\n%s", logs.String())
		}
	}()

	pub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + mqttAddr).SetClientID("backup-test"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	var sent atomic.Int64
	done := make(chan struct{})
	stopPub := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; ; i++ {
			select {
			case <-stopPub:
				return
			default:
			}
			dev := 201 + i%5
			pres := 6.4
			if dev == 203 {
				pres = 5.2 // a leak on one line: an alert
			}
			msg := fmt.Sprintf(`{"Customer":"finemeca","idGateway":170,"idDevice":%d,"Device":"line-%d","Time":%d,"msgCount":%d,"Mod":"air","Pres":%.2f,"OpenPres":6}`,
				dev, dev, time.Now().UnixMilli(), i, pres)
			if tok := pub.Publish(fmt.Sprintf("finemeca/air/%d", dev), 1, false, msg); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
				sent.Add(1)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	type device struct {
		Device   string `json:"device"`
		Readings int64  `json:"readings"`
	}
	stored := func() (int64, []device) {
		var devs []device
		getJSONFrom(t, base+"/api/v1/devices", &devs)
		var n int64
		for _, d := range devs {
			n += d.Readings
		}
		return n, devs
	}
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		if n, _ := stored(); n < 300 {
			return fmt.Errorf("%d readings stored", n)
		}
		return nil
	})
	backup := filepath.Join(t.TempDir(), "backup.db")
	if out, err := exec.Command(binary, "backup", "--config", cfgPath, "--data", dir, "--to", backup).CombinedOutput(); err != nil || !strings.Contains(string(out), "integrity checked") {
		t.Fatalf("backup while publishing: %v\n%s", err, out)
	}
	if out, err := exec.Command(binary, "restore", "--config", cfgPath, "--data", dir, backup).CombinedOutput(); err == nil || !strings.Contains(string(out), "sensorhub is running") {
		t.Fatalf("restore while running: %v\n%s", err, out)
	}
	close(stopPub)
	<-done

	// What the backup holds, as a sensorhub on it answers.
	snapshot := func() (devs []device, alerts []map[string]any, points int) {
		_, devs = stored()
		var a struct {
			Alerts []map[string]any `json:"alerts"`
		}
		getJSONFrom(t, base+"/api/v1/alerts?state=all", &a)
		alerts = a.Alerts
		var s struct {
			Points [][2]float64 `json:"points"`
		}
		getJSONFrom(t, base+"/api/v1/series?device=203&field=Pres&from=2020-01-01T00:00:00Z", &s)
		return devs, alerts, len(s.Points)
	}
	stop(proc)
	copyDir := t.TempDir()
	if out, err := exec.Command(binary, "restore", "--config", cfgPath, "--data", copyDir, backup).CombinedOutput(); err != nil {
		t.Fatalf("restore into an empty directory: %v\n%s", err, out)
	}
	proc = startSensorhub(copyDir)
	wantDevs, wantAlerts, wantPoints := snapshot()
	stop(proc)
	if len(wantDevs) != 5 || wantPoints == 0 || len(wantAlerts) == 0 {
		t.Fatalf("the backup holds %d devices, %d points of 203, %d alerts: want 5, some, the leak", len(wantDevs), wantPoints, len(wantAlerts))
	}

	out, err := exec.Command(binary, "restore", "--config", cfgPath, "--data", dir, backup).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "the store it replaced is kept as") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	proc = startSensorhub(dir)
	gotDevs, gotAlerts, gotPoints := snapshot()
	g, _ := json.Marshal(gotDevs)
	w, _ := json.Marshal(wantDevs)
	if string(g) != string(w) || gotPoints != wantPoints || len(gotAlerts) != len(wantAlerts) {
		t.Errorf("after the restore: devices %s, %d points, %d alerts; the backup holds %s, %d points, %d alerts",
			g, gotPoints, len(gotAlerts), w, wantPoints, len(wantAlerts))
	}
	if n, _ := stored(); n >= sent.Load() && sent.Load() > 0 {
		t.Logf("the backup holds %d readings of %d sent", n, sent.Load())
	}
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
}

func getJSONFrom(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// TestRestoreRefusesAnotherInstallation: sensorhub backup and restore
// name the installation; restoring the backup of another installation is
// refused with both ids and the way to go on (--force), and replaces
// nothing; with --force it restores; quick restores keep each replaced
// store.
func TestRestoreRefusesAnotherInstallation(t *testing.T) {
	siteA, siteB := t.TempDir(), t.TempDir()
	installation := func(data string) string {
		t.Helper()
		s, err := sqlite.Open(context.Background(), filepath.Join(data, "sensorhub.db"), sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		id, err := s.Installation(context.Background())
		if err != nil || id == "" {
			t.Fatalf("installation %q %v", id, err)
		}
		return id
	}
	idA, idB := installation(siteA), installation(siteB)
	backupB := filepath.Join(t.TempDir(), "site-b.db")
	out, err := exec.Command(binary, "backup", "--data", siteB, "--to", backupB).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "installation "+idB) {
		t.Fatalf("backup of site B: %v\n%s; want its installation %s named", err, out, idB)
	}

	out, err = exec.Command(binary, "restore", "--data", siteA, backupB).CombinedOutput()
	if err == nil || !strings.Contains(string(out), idA) || !strings.Contains(string(out), idB) || !strings.Contains(string(out), "--force") {
		t.Fatalf("restoring site B's backup over site A: %v\n%s; want a refusal naming %s, %s and --force", err, out, idB, idA)
	}
	if id := installation(siteA); id != idA {
		t.Fatalf("after the refusal site A's store is installation %s, want %s", id, idA)
	}

	out, err = exec.Command(binary, "restore", "--force", "--data", siteA, backupB).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "installation "+idB) || !strings.Contains(string(out), "the store it replaced is kept as") {
		t.Fatalf("restore --force: %v\n%s", err, out)
	}
	if id := installation(siteA); id != idB {
		t.Errorf("after restore --force site A's store is installation %s, want the backup's %s", id, idB)
	}
	// The same installation now: a second restore needs no --force, and
	// keeps what it replaces beside the first.
	out, err = exec.Command(binary, "restore", "--data", siteA, backupB).CombinedOutput()
	if err != nil {
		t.Fatalf("restoring the same installation's backup: %v\n%s", err, out)
	}
	kept, _ := filepath.Glob(filepath.Join(siteA, "sensorhub.db.before-restore-*"))
	var stores []string
	for _, k := range kept {
		if !strings.HasSuffix(k, "-wal") && !strings.HasSuffix(k, "-shm") {
			stores = append(stores, k)
		}
	}
	if len(stores) != 2 {
		t.Fatalf("after two restores, the kept stores are %v; want two", stores)
	}
	for _, k := range stores {
		if _, err := sqlite.Check(context.Background(), k); err != nil {
			t.Errorf("kept store %s: %v", k, err)
		}
	}
}
