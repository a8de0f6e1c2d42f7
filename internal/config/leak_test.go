package config_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
)

// TestBadLeakSettings: each mistake in a kind's leak method or in a
// compressor names its field and line.
func TestBadLeakSettings(t *testing.T) {
	_, err := config.Load(filepath.Join("testdata", "bad_leak.yaml"))
	if err == nil {
		t.Fatal("loaded without error")
	}
	for _, want := range []string{
		`bad_leak.yaml:11: sensors.line.leak.method: "flowmeter" is not one of auto, decay, flow`,
		`bad_leak.yaml:13: sensors.line.leak.flow_unit: "cfm" is not one of`,
		`bad_leak.yaml:15: sensors.line.leak.idle.0.days: "sunday" is not a day`,
		`bad_leak.yaml:18: sensors.line.leak.idle.1.to: "6h" is not a time of day HH:MM`,
		`bad_leak.yaml:21: compressors.0.customer: "acme" is not one of customers`,
		`bad_leak.yaml:22: compressors.0.power.unit: "MWh" is not one of kW, kWh`,
		`bad_leak.yaml:23: compressors.0.flow.sensor: "pump" is not a sensor kind`,
		`bad_leak.yaml:23: compressors.0.flow.device: the device id is required`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// TestIdleWindows: weekends whole, and the nights of the working days
// from 22:00 to 06:00, the morning after counting with its evening.
func TestIdleWindows(t *testing.T) {
	loc, _ := time.LoadLocation("Europe/Brussels")
	m := config.LeakMethod{Idle: []config.IdleWindow{{Days: []string{"sat", "sun"}}, {Days: []string{"mon..fri"}, From: "22:00", To: "06:00"}}}
	at := func(day, hh, mm int) time.Time { return time.Date(2022, 5, day, hh, mm, 0, 0, loc) } // 2 May 2022 is a Monday
	for _, c := range []struct {
		t    time.Time
		idle bool
	}{
		{at(2, 5, 59), false}, // Monday morning: Sunday's evening is not a working-day night
		{at(2, 6, 0), false},
		{at(2, 21, 59), false},
		{at(2, 22, 0), true},
		{at(3, 5, 59), true}, // Tuesday morning, after Monday's evening
		{at(3, 6, 0), false},
		{at(7, 0, 0), true},   // Saturday
		{at(7, 5, 0), true},   // Saturday, and Friday's night
		{at(8, 23, 59), true}, // Sunday
	} {
		if got := m.IsIdle(c.t, loc); got != c.idle {
			t.Errorf("%s: idle %v, want %v", c.t.Format("Mon 15:04"), got, c.idle)
		}
	}
}
