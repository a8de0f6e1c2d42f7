package app_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/store/series"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestFullDiskHoldsAndResumes: on a real small disk (a tmpfs of its own),
// a publisher keeps sending numbered QoS 1 messages while the disk fills.
// sensorhub starts on it although the raw stream may grow larger than
// the disk, stops acknowledging when the disk is full, says so in
// /readyz, and once space is freed resumes by itself: every message the
// broker acknowledged is stored, and none twice.
func TestFullDiskHoldsAndResumes(t *testing.T) { testDiskHolds(t, "full") }

// TestGrownDiskResumes: the same on a smaller disk that is grown when
// full, nothing removed (a tmpfs or volume made larger): the embedded
// queue resumes with the few MiB the disk gained.
func TestGrownDiskResumes(t *testing.T) { testDiskHolds(t, "grown") }

// TestFreeSpaceFloorHoldsAndResumes: the same with the free-space floor
// (store.min_free, at most 5 % of the disk): below it, ingest holds
// before the disk is full, /readyz, the log, the metrics and every page
// say so, and ingestion resumes by itself once space is freed.
func TestFreeSpaceFloorHoldsAndResumes(t *testing.T) { testDiskHolds(t, "floor") }

func testDiskHolds(t *testing.T, mode string) {
	floor := mode == "floor"
	size := int64(96 << 20)
	if mode == "grown" {
		size = 40 << 20
	}
	disk := testenv.SmallDisk(t, size)
	var logs testenv.SyncBuffer
	a := startLogged(t, "embedded", app.Options{}, slog.New(slog.NewTextHandler(&logs, nil)), func(c *config.Config) {
		c.DataDir = disk
		c.Queue.RawMaxBytes = 10 << 30 // more than the disk has
		c.Store.MinFree = 0
		if floor {
			c.Store.MinFree = 1 << 30 // 5 % of the disk: 4.8 MiB
		}
	})
	opts := paho.NewClientOptions().AddBroker("tcp://" + a.MQTTAddr()).SetClientID(testenv.Unique(t)).
		SetCleanSession(false).SetAutoReconnect(true).SetWriteTimeout(5 * time.Second)
	cl := paho.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer cl.Disconnect(100)

	var mu sync.Mutex
	acked := map[int]bool{}
	stop := make(chan struct{})
	sent := make(chan struct{})
	pad := strings.Repeat("p", 2000) // messages that fill a disk
	go func() {
		defer close(sent)
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			msg := fmt.Sprintf(`{"Customer":"finemeca","idDevice":500,"Mod":"weath","msgCount":%d,"Temp":%d,"Note":%q}`, n, n, pad)
			tok := cl.Publish("finemeca/devicev01/500", 1, false, msg)
			if tok.WaitTimeout(2*time.Second) && tok.Error() == nil {
				mu.Lock()
				acked[n] = true
				mu.Unlock()
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	testenv.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		if n := ackedCount(); n < 200 {
			return fmt.Errorf("%d acknowledged", n)
		}
		return nil
	})
	filler := testenv.Fill(t, disk)
	if floor {
		filler = testenv.FillLeaving(t, disk, 3<<20)
	}
	var why string
	testenv.Eventually(t, 60*time.Second, 200*time.Millisecond, func() error {
		resp, err := http.Get("http://" + a.HTTPAddr() + "/readyz")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			return fmt.Errorf("/readyz: HTTP %d %s while the disk is full", resp.StatusCode, body)
		}
		if floor && !strings.Contains(string(body), "disk: ") {
			return fmt.Errorf("/readyz does not name the disk yet: %s", body)
		}
		why = string(body)
		return nil
	})
	t.Logf("/readyz with the disk full: %s", why)
	if !floor && !strings.Contains(why, "no space left on device") {
		t.Errorf("/readyz does not say the disk is full: %s", why)
	}
	if floor {
		if !strings.Contains(why, "disk: the disk of "+disk) || !strings.Contains(why, "below its floor of 4.8 MiB") {
			t.Errorf("/readyz does not name the disk and its free space: %s", why)
		}
		if _, page := newClient(t, a).Do("GET", "/", ""); !strings.Contains(page, `class="banner"`) || !strings.Contains(page, "Not storing new readings") {
			t.Errorf("the overview has no banner while the disk is low")
		}
		if free, f := testutil.ToFloat64(a.Metrics.DiskFree), testutil.ToFloat64(a.Metrics.DiskFloor); free >= f || f < 4.5*(1<<20) || f > 5*(1<<20) {
			t.Errorf("sensorhub_disk_free_bytes %v, sensorhub_disk_floor_bytes %v: want free below the floor of 5 %%", free, f)
		}
		if !strings.Contains(logs.String(), "disk space low: ingest holds") {
			t.Errorf("the log does not say ingest holds")
		}
	}
	if floor {
		// Below the floor ingest holds, and the queue goes on taking
		// messages into the space left until the disk is full.
		testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
			n := ackedCount()
			time.Sleep(time.Second)
			if d := ackedCount() - n; d > 10 {
				return fmt.Errorf("%d acknowledged in 1 s: the queue still has space", d)
			}
			return nil
		})
	}
	before := ackedCount()
	time.Sleep(3 * time.Second)
	if gained := ackedCount() - before; gained > 50 {
		t.Errorf("%d messages acknowledged in 3 s with the disk full", gained)
	}
	back := time.Now()
	if mode == "grown" {
		testenv.GrowDisk(t, disk, size+32<<20)
	} else if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 90*time.Second, 200*time.Millisecond, func() error {
		if code := getJSON(t, a, "/readyz", nil); code != http.StatusOK {
			return fmt.Errorf("/readyz: HTTP %d after the space came back", code)
		}
		if n := ackedCount(); n < before+200 {
			return fmt.Errorf("%d acknowledged, %d before the space came back", n, before)
		}
		return nil
	})
	t.Logf("acknowledging again %s after the space came back", time.Since(back).Round(time.Second))
	close(stop)
	<-sent
	mu.Lock()
	want := len(acked)
	mu.Unlock()
	k := "device=500&field=Temp&from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z"
	testenv.Eventually(t, 60*time.Second, 200*time.Millisecond, func() error {
		var s series.Series
		if code := getJSON(t, a, "/api/v1/series?"+k, &s); code != http.StatusOK {
			return fmt.Errorf("series: HTTP %d", code)
		}
		seen := map[int]int{}
		for _, p := range s.Points {
			seen[int(p.Value)]++
		}
		mu.Lock()
		defer mu.Unlock()
		for n := range acked {
			if seen[n] == 0 {
				return fmt.Errorf("message %d was acknowledged and is not stored (%d of %d stored)", n, len(seen), want)
			}
		}
		for n, c := range seen {
			if c > 1 {
				return fmt.Errorf("message %d stored %d times", n, c)
			}
		}
		return nil
	})
	t.Logf("%d messages acknowledged, all stored once", want)
	if floor {
		if !strings.Contains(logs.String(), "disk space back: ingest resumes") {
			t.Errorf("the log does not say ingest resumed")
		}
		if _, page := newClient(t, a).Do("GET", "/", ""); strings.Contains(page, `class="banner"`) {
			t.Errorf("the banner stays after the space came back")
		}
	}
}
