package app_test

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestLeakFlowAndSpecificPower: an air line with a flow meter and the
// compressor's energy meter, Saturday 2 May 2026, a reading every hour
// from 00:00 to 23:00 local. The whole Saturday is non-production time
// for the built-in air kind: the leak flow is the mean flow, 6 m3/h =
// 100 Nl/min, and leaks run always: 100 Nl/min x 1440 min = 144 Nm3 over
// the day, 2.88 at 0.02 per Nm3, a year 2.88 x 365 = 1051.2. The
// compressor: 0.6 kWh and 6 Nm3 each of the 23 hours between readings:
// 13.8 kWh, 138 Nm3, 0.6 / 6 x 60 = 6 kW per Nm3/min.
func TestLeakFlowAndSpecificPower(t *testing.T) {
	a := start(t, "embedded", app.Options{}, func(c *config.Config) {
		c.Compressors = []config.Compressor{{Name: "c1", Customer: "finemeca",
			Power: config.MeterField{Sensor: "centrale", Device: "320", Field: "E", Unit: "kWh"},
			Flow:  config.MeterField{Sensor: "air", Device: "220", Field: "Flow", Unit: "m3/h"}}}
	})
	var air, centrale []string
	for h := 0; h < 24; h++ {
		at := fmt.Sprintf("2026-05-02 %02d:00:00", h)
		air = append(air, fmt.Sprintf(`{"Customer":"finemeca","idDevice":220,"Mod":"air","Time":%q,"msgCount":%d,"Pres":6.5,"OpenPres":6,"Flow":6,"Flow-U":"m3/h"}`, at, h+1))
		centrale = append(centrale, fmt.Sprintf(`{"Customer":"finemeca","idDevice":320,"Mod":"centrale","Time":%q,"msgCount":%d,"E":%g}`, at, h+1, 1000+0.6*float64(h)))
	}
	for topic, lines := range map[string][]string{"finemeca/air/220": air, "finemeca/centrale/320": centrale} {
		if code := postIngest(t, a, topic, strings.Join(lines, "\n")); code != http.StatusAccepted {
			t.Fatalf("ingest %s: %d", topic, code)
		}
	}
	// Saturday in Brussels: 22:00 UTC the day before to 22:00 UTC.
	rng := "&from=2026-05-01T22:00:00Z&to=2026-05-02T22:00:00Z"
	var rep struct {
		Method       string
		IdleReadings int      `json:"idle_readings"`
		FlowNlMin    *float64 `json:"flow_nl_min"`
		LostNm3      *float64 `json:"lost_nm3"`
		Cost         *float64
		CostPerYear  *float64 `json:"cost_per_year"`
		Year         *struct {
			Days        float64
			First, Last string
		}
	}
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		getJSON(t, a, "/api/v1/leaks?device=220"+rng, &rep)
		if rep.IdleReadings != 24 {
			return fmt.Errorf("%d idle readings, want 24", rep.IdleReadings)
		}
		return nil
	})
	near := func(v *float64, want float64) bool { return v != nil && math.Abs(*v-want) < 1e-9 }
	if rep.Method != "flow" || !near(rep.FlowNlMin, 100) || !near(rep.LostNm3, 144) || !near(rep.Cost, 2.88) || !near(rep.CostPerYear, 1051.2) {
		t.Errorf("leaks: method %s flow %v lost %v cost %v a year %v; want flow, 100 Nl/min, 144 Nm3, 2.88, 1051.2",
			rep.Method, rep.FlowNlMin, rep.LostNm3, rep.Cost, rep.CostPerYear)
	}
	if rep.Year == nil || rep.Year.Days != 1 || rep.Year.First != "2026-05-02" {
		t.Errorf("year basis %+v, want the one day 2026-05-02", rep.Year)
	}
	var cs []struct {
		Name   string
		Hours  int
		Period struct {
			KWh           float64
			Nm3           float64
			SpecificPower *float64 `json:"kw_per_nm3_min"`
		}
	}
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		getJSON(t, a, "/api/v1/compressors?customer=finemeca&sensor=air"+rng, &cs)
		if len(cs) != 1 || cs[0].Hours != 23 {
			return fmt.Errorf("compressors %+v, want c1 over 23 hours", cs)
		}
		return nil
	})
	if p := cs[0].Period; cs[0].Name != "c1" || math.Abs(p.KWh-13.8) > 1e-9 || math.Abs(p.Nm3-138) > 1e-9 || !near(p.SpecificPower, 6) {
		t.Errorf("compressor %+v, specific power %v; want 13.8 kWh, 138 Nm3, 6 kW per Nm3/min", cs[0], p.SpecificPower)
	}
	var none []any
	if getJSON(t, a, "/api/v1/compressors?customer=finemeca&sensor=devicev01"+rng, &none); len(none) != 0 {
		t.Errorf("compressors of the weather kind: %v, want none", none)
	}
}
