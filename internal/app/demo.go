package app

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/ingest"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/sim"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/web"
)

// demoStage runs the device simulator against the broker, after giving an
// empty store a week of simulated history.
type demoStage struct {
	sim      *sim.Simulator
	devices  []*sim.Device
	customer string
	in       *ingest.Ingester
	st       store.Reader
	log      *slog.Logger
	workers
}

func (s *demoStage) start(ctx context.Context) error {
	if err := s.history(ctx); err != nil {
		return err
	}
	s.runLogged(s.log, "demo simulator", s.sim.Run)
	return nil
}

func (s *demoStage) serve(*web.Server) {}

// history gives an empty demo store the last 7 days of the simulated
// devices, decoded and stored as ingest would, so that the dashboards have
// something to show at once.
func (s *demoStage) history(ctx context.Context) error {
	devs, err := s.st.Devices(ctx, store.DeviceFilter{Limit: 1})
	if err != nil {
		return err
	}
	if len(devs) > 0 {
		// A restart: the devices go on from what they last sent.
		for _, d := range s.devices {
			r, err := s.st.Latest(ctx, store.DeviceKey{Customer: s.customer, Sensor: d.Kind, Device: strconv.Itoa(d.ID)})
			if err == nil {
				d.Resume(r.MsgCount, r.Fields)
			}
		}
		return nil
	}
	now := time.Now()
	topics, payloads := s.sim.History(now.Add(-7*24*time.Hour), now.Add(-time.Minute), 5*time.Minute)
	envs := make([]reading.Envelope, len(payloads))
	for i := range payloads {
		envs[i] = reading.Envelope{Topic: topics[i], Payload: payloads[i], Received: now, Source: "demo"}
	}
	n, err := s.in.Ingest(ctx, envs)
	if err != nil {
		return fmt.Errorf("demo history: %w", err)
	}
	s.log.Info("demo: stored 7 days of simulated history", "readings", n)
	return nil
}

// DemoSettings give a demo's configuration what the demo shows: the
// compressor of its simulated devices and, in the built-in configuration
// (builtIn), prices (a configuration without money shows no made-up
// ones) and an energy baseline: the mean day of four whole days of the
// week of history it starts with, which the days after are compared with.
func DemoSettings(cfg *config.Config, builtIn bool, now time.Time) {
	customer := cfg.Customers[0]
	if len(cfg.Compressors) == 0 {
		cfg.Compressors = sim.Compressors(customer)
	}
	if !builtIn {
		return
	}
	if cfg.Money == nil {
		cfg.Money = config.DemoMoney()
	}
	if len(cfg.Baselines) == 0 {
		day := func(d int) string { return now.AddDate(0, 0, d).In(cfg.Location()).Format(time.DateOnly) }
		cfg.Baselines = []config.Baseline{{Name: "demo-first-days", Customer: customer, From: day(-6), To: day(-3), Every: "day"}}
	}
}
