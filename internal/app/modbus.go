package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/gateway"
	"github.com/sensorhub/sensorhub/internal/input/modbus"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/web"
)

// modbusStage polls the Modbus devices, in the gateway role: a way in
// like MQTT, whose polls go on the raw stream through the gateway's
// forwarder.
type modbusStage struct {
	poller *modbus.Poller
	workers
}

func newModbusStage(cfg *config.Config, fw *gateway.Forwarder, now func() time.Time, log *slog.Logger) *modbusStage {
	log = log.With("stage", "modbus")
	forward := func(ctx context.Context, id string, env reading.Envelope) error {
		// A poll held longer than a sender would be is given up: the
		// device's next polls matter more, and the gap counts it lost.
		ctx, cancel := context.WithTimeout(ctx, gateway.SenderWait)
		defer cancel()
		return fw.ForwardID(ctx, id, env)
	}
	return &modbusStage{poller: &modbus.Poller{Devices: cfg.Modbus.Devices, Maps: cfg.Modbus.Maps, Forward: forward, Log: log, Now: now}}
}

func (s *modbusStage) start(context.Context) error {
	s.run(s.poller.Run)
	return nil
}

func (s *modbusStage) serve(*web.Server) {}
