// Package sim simulates the three sensor kinds publishing over MQTT, for
// the demo and for load tests: air-leak detectors whose pressure drifts and
// now and then leaks, power meters whose energy counter grows with their
// power, and weather modules following a day cycle. Now and then a device
// loses a message, leaving a gap in its msgCount.
package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sensorhub/sensorhub/internal/config"
)

// Options configures the simulator.
type Options struct {
	Broker   string // tcp://host:port
	Customer string
	Location *time.Location
	// Interval is the time between two readings of one device.
	Interval time.Duration
	// LossRate is the share of messages a device "loses" (never sends).
	LossRate float64
	Seed     uint64
}

// Device is one simulated device.
type Device struct {
	Kind    string
	ID      int
	Name    string
	Gateway int

	msgCount int
	// air
	pres, openPres float64
	leakLeft       int
	// centrale
	energy float64
	// devicev01
	basePres float64
}

// Devices returns the demo's devices: two of each kind.
func Devices() []*Device {
	return []*Device{
		{Kind: "air", ID: 201, Name: "air-line-1", Gateway: 170, pres: 6.4, openPres: 6.0},
		{Kind: "air", ID: 202, Name: "air-line-2", Gateway: 170, pres: 7.1, openPres: 6.5},
		{Kind: "centrale", ID: 301, Name: "centrale-atelier", Gateway: 171, energy: 48211.7},
		{Kind: "centrale", ID: 302, Name: "centrale-bureaux", Gateway: 171, energy: 9120.4},
		{Kind: "devicev01", ID: 100, Name: "testBroker", Gateway: 170, basePres: 1013},
		{Kind: "devicev01", ID: 101, Name: "weather-roof", Gateway: 170, basePres: 1009},
	}
}

// Resume continues a device from its newest stored reading: its msgCount
// and its counters and levels go on from there, as a real device's do when
// sensorhub restarts.
func (d *Device) Resume(msgCount int64, fields map[string]float64) {
	d.msgCount = int(msgCount)
	switch d.Kind {
	case "centrale":
		if e, ok := fields["E"]; ok {
			d.energy = e
		}
	case "air":
		if p, ok := fields["Pres"]; ok {
			d.pres = p
		}
	case "devicev01":
		if p, ok := fields["Pres"]; ok {
			d.basePres = p
		}
	}
}

// Simulator publishes readings for its devices.
type Simulator struct {
	opts    Options
	devices []*Device
	rng     *rand.Rand
	log     *slog.Logger
}

// New returns a simulator of the given devices.
func New(opts Options, devices []*Device, log *slog.Logger) *Simulator {
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	return &Simulator{opts: opts, devices: devices, rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5eed)), log: log}
}

// Run connects to the broker and publishes until ctx ends.
func (s *Simulator) Run(ctx context.Context) error {
	c := paho.NewClient(paho.NewClientOptions().
		AddBroker(s.opts.Broker).
		SetClientID(fmt.Sprintf("sensorhub-sim-%d", s.rng.Uint32())).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second))
	tok := c.Connect()
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		return fmt.Errorf("simulator: connect to %s: %v", s.opts.Broker, tok.Error())
	}
	defer c.Disconnect(250)
	s.log.Info("demo simulator publishing", "broker", s.opts.Broker, "devices", len(s.devices), "every", s.opts.Interval)
	// Spread the devices over the interval, as real ones are.
	step := s.opts.Interval / time.Duration(len(s.devices))
	t := time.NewTicker(step)
	defer t.Stop()
	for i := 0; ; i = (i + 1) % len(s.devices) {
		d := s.devices[i]
		topic, payload := s.Next(d, time.Now())
		if payload != nil {
			tok := c.Publish(topic, 1, false, payload)
			select {
			case <-tok.Done():
				if tok.Error() != nil {
					s.log.Warn("simulator: publish failed", "topic", topic, "err", tok.Error())
				}
			case <-ctx.Done():
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Next advances device d to now and returns its topic and payload, or a nil
// payload when this message is "lost" on the radio.
func (s *Simulator) Next(d *Device, now time.Time) (string, []byte) {
	d.msgCount++
	msg := map[string]any{
		"Customer":  s.opts.Customer,
		"idGateway": d.Gateway,
		"idDevice":  d.ID,
		"Device":    d.Name,
		"Time":      now.In(s.opts.Location).Format("2006-01-02 15:04:05"),
		"msgCount":  d.msgCount,
		"RSSI":      -45 - s.rng.IntN(40),
		"SNR":       round(4+s.rng.Float64()*8, 1),
	}
	local := now.In(s.opts.Location)
	hour := float64(local.Hour()) + float64(local.Minute())/60
	switch d.Kind {
	case "air":
		s.air(d, msg, local)
	case "centrale":
		s.centrale(d, msg, local)
	case "devicev01":
		s.weather(d, msg, hour)
	}
	b, _ := json.Marshal(msg)
	msg["Length"] = len(b)
	b, _ = json.Marshal(msg)
	topic := fmt.Sprintf("%s/%s/%d", s.opts.Customer, d.Kind, d.ID)
	if s.rng.Float64() < s.opts.LossRate {
		return topic, nil
	}
	return topic, b
}

func (s *Simulator) air(d *Device, msg map[string]any, local time.Time) {
	normal := d.openPres + 0.45
	switch {
	case d.leakLeft > 0:
		// Leaking: the line loses pressure below the opening pressure.
		d.leakLeft--
		d.pres -= 0.04 + s.rng.Float64()*0.05
		d.pres = math.Max(d.pres, d.openPres-0.9)
	case s.rng.Float64() < 0.02:
		d.leakLeft = 8 + s.rng.IntN(12)
	default:
		// The compressor brings the pressure back, with some noise.
		d.pres += (normal-d.pres)*0.3 + (s.rng.Float64()-0.5)*0.04
	}
	msg["Mod"] = "air"
	msg["Pres"] = round(d.pres, 2)
	msg["Pres-U"] = "bar"
	msg["OpenPres"] = d.openPres
	msg["OpenPres-U"] = "bar"
	msg["Flow"] = round(s.airFlow(d, local), 1)
	msg["Flow-U"] = "m3/h"
}

// airFlow is the line's air flow in m3/h: the machines' use in the working
// hours of the working week, the centrale's, and the leaks' flow always,
// so that the flow of nights and weekends measures the leaks.
func (s *Simulator) airFlow(d *Device, local time.Time) float64 {
	hour := float64(local.Hour()) + float64(local.Minute())/60
	flow := 24.0
	if weekday := local.Weekday(); weekday != time.Saturday && weekday != time.Sunday && hour >= 7 && hour < 18 {
		flow += 70 + 20*math.Sin((hour-7)/11*math.Pi)
	}
	if d.leakLeft > 0 {
		flow += 15
	}
	return flow + (s.rng.Float64()-0.5)*3
}

// Compressors pair the demo's compressor, metered by the workshop's
// centrale, with the flow of the first air line, for the specific power.
func Compressors(customer string) []config.Compressor {
	return []config.Compressor{{Name: "compressor-1", Customer: customer,
		Power: config.MeterField{Sensor: "centrale", Device: "301", Field: "E", Unit: "kWh"},
		Flow:  config.MeterField{Sensor: "air", Device: "201", Field: "Flow", Unit: "m3/h"}}}
}

func (s *Simulator) centrale(d *Device, msg map[string]any, local time.Time) {
	// A working week: the machines run on weekdays from 07:00 to 18:00;
	// nights and weekends draw the baseload.
	hour := float64(local.Hour()) + float64(local.Minute())/60
	load := 3.0
	if weekday := local.Weekday(); weekday != time.Saturday && weekday != time.Sunday && hour >= 7 && hour < 18 {
		load = 11 + 3*math.Sin((hour-7)/11*math.Pi)
	}
	p := load + (s.rng.Float64()-0.5)*0.8
	d.energy += p * s.opts.Interval.Hours()
	pf := 0.9 + s.rng.Float64()*0.05
	u := [3]float64{}
	for i := range u {
		u[i] = round(230+(s.rng.Float64()-0.5)*3, 1)
	}
	i := p * 1000 / (3 * 230 * pf)
	msg["Mod"] = "centrale"
	msg["U1"], msg["U2"], msg["U3"] = u[0], u[1], u[2]
	msg["U-U"] = "V"
	msg["I1"], msg["I2"], msg["I3"] = round(i*1.01, 1), round(i*0.98, 1), round(i*1.02, 1)
	msg["I-U"] = "A"
	msg["P"] = round(p, 2)
	msg["P-U"] = "kW"
	msg["PF"] = round(pf, 2)
	msg["E"] = round(d.energy, 1)
	msg["E-U"] = "kWh"
}

func (s *Simulator) weather(d *Device, msg map[string]any, hour float64) {
	temp := 12 + 6*math.Sin((hour-9)/24*2*math.Pi) + (s.rng.Float64()-0.5)*0.3
	d.basePres += (s.rng.Float64() - 0.5) * 0.3
	msg["Mod"] = "weath"
	msg["Temp"] = round(temp, 2)
	msg["Temp-U"] = "C"
	msg["Pres"] = round(d.basePres, 0)
	msg["Pres-U"] = "hPa"
	msg["Hum"] = round(math.Max(20, math.Min(95, 75-2*(temp-12)+(s.rng.Float64()-0.5)*4)), 0)
	msg["Hum-U"] = "%"
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// History returns the messages the devices would have sent every step from
// from to to, advancing their state, so that a demo starts with days of
// data behind it. The payloads are what the devices publish.
func (s *Simulator) History(from, to time.Time, step time.Duration) (topics []string, payloads [][]byte) {
	live := s.opts.Interval
	s.opts.Interval = step
	defer func() { s.opts.Interval = live }()
	for t := from; t.Before(to); t = t.Add(step) {
		for _, d := range s.devices {
			topic, p := s.Next(d, t)
			if p != nil {
				topics, payloads = append(topics, topic), append(payloads, p)
			}
		}
	}
	return topics, payloads
}
