package modbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/simonvetter/modbus"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/logx"
	"github.com/sensorhub/sensorhub/internal/reading"
)

// Defaults of a device's settings.
const (
	DefaultTimeout = time.Second
	DefaultBackoff = time.Minute
)

// Forward puts one poll's envelope on the raw stream; id identifies it,
// so that the queue stores once a poll published twice (a publish
// retried after the queue did not acknowledge it).
type Forward func(ctx context.Context, id string, env reading.Envelope) error

// Poller polls Modbus devices, each on its own schedule and connection,
// so that a device that does not answer slows no other.
type Poller struct {
	Devices []config.ModbusDevice
	// Maps are the file's register maps (modbus.maps).
	Maps    map[string][]config.Register
	Forward Forward
	Log     *slog.Logger
	// Now is the clock of the polls' times; time.Now when nil.
	Now func() time.Time
}

// Run polls every device until ctx ends.
func (p *Poller) Run(ctx context.Context) {
	now := p.Now
	if now == nil {
		now = time.Now
	}
	limit := logx.NewLimiter(p.Log, time.Minute)
	var wg sync.WaitGroup
	for _, cfg := range p.Devices {
		d := newDevice(cfg, MapOf(cfg, p.Maps))
		wg.Go(func() { d.run(ctx, p, now, limit) })
	}
	wg.Wait()
}

// device is one polled device and its connection.
type device struct {
	cfg   config.ModbusDevice
	reqs  []Request
	units map[string]string

	client   *modbus.ModbusClient
	last     int64 // the last poll's count
	failures int   // polls not answered in a row
	retryAt  time.Time
}

func newDevice(cfg config.ModbusDevice, regs []config.Register) *device {
	if cfg.Timeout <= 0 {
		cfg.Timeout = min(DefaultTimeout, cfg.Interval)
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	d := &device{cfg: cfg, reqs: Plan(regs, cfg.MaxSpan), units: map[string]string{}}
	for _, r := range regs {
		if r.Unit != "" {
			d.units[r.Field] = r.Unit
		}
	}
	return d
}

func (d *device) run(ctx context.Context, p *Poller, now func() time.Time, limit *logx.Limiter) {
	defer d.close()
	start := now()
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	at := start
	for {
		// The count is the poll's slot since start: a poll skipped (the
		// queue held the previous one back) is a gap, as one not answered.
		n := max(int64(at.Sub(start)/d.cfg.Interval)+1, d.last+1)
		d.tick(ctx, p, at, n, limit)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			at = now()
		}
	}
}

// tick makes poll n at time at, unless the device is waited for after
// failures: either way, n is spent.
func (d *device) tick(ctx context.Context, p *Poller, at time.Time, n int64, limit *logx.Limiter) {
	d.last = n
	if at.Before(d.retryAt) {
		return
	}
	poll, err := d.poll(at, n)
	if err != nil {
		d.failures++
		d.close()
		wait := min(d.cfg.Interval<<min(d.failures-1, 20), d.cfg.Backoff)
		// Half an interval early: the tick that ends the wait may come a
		// little before it.
		d.retryAt = at.Add(wait - d.cfg.Interval/2)
		p.Log.Debug("modbus poll not answered", "device", d.cfg.Device, "poll", n, "err", err)
		limit.Log(ctx, slog.LevelWarn, "modbus "+d.cfg.Address, "modbus device not answering: its polls are lost until it answers",
			"device", d.cfg.Device, "address", d.cfg.Address, "unit_id", d.cfg.UnitID, "err", err, "failures", d.failures, "next_try_in", wait)
		return
	}
	if d.failures > 0 {
		p.Log.Info("modbus device answers again", "device", d.cfg.Device, "address", d.cfg.Address, "failures", d.failures)
		d.failures, d.retryAt = 0, time.Time{}
	}
	payload, err := json.Marshal(poll)
	if err != nil {
		p.Log.Error("modbus poll", "device", d.cfg.Device, "err", err)
		return
	}
	env := reading.Envelope{Topic: TopicPrefix + d.cfg.Customer + "/" + d.cfg.Device, Payload: payload, Received: at.UTC(), Source: Source}
	id := "modbus/" + d.cfg.Customer + "/" + d.cfg.Sensor + "/" + d.cfg.Device + "/" + strconv.FormatInt(at.UnixNano(), 10)
	if err := p.Forward(ctx, id, env); err != nil && ctx.Err() == nil {
		p.Log.Error("modbus poll not put on the queue: counted lost", "device", d.cfg.Device, "poll", n, "err", err)
	}
}

// poll reads the device's map once. An error is a device that did not
// answer (no connection, a timeout); an exception it answers a request
// with leaves that request's fields out, said in Errors.
func (d *device) poll(at time.Time, n int64) (Poll, error) {
	c, err := d.connect()
	if err != nil {
		return Poll{}, err
	}
	p := Poll{Customer: d.cfg.Customer, Sensor: d.cfg.Sensor, Device: d.cfg.Device, Name: d.cfg.Name, Address: d.cfg.Address,
		Count: n, Time: at.UTC(), Fields: map[string]float64{}, Units: d.units}
	for _, rq := range d.reqs {
		words, err := read(c, rq)
		if err != nil {
			if !answered(err) {
				return Poll{}, fmt.Errorf("%s %d+%d: %w", rq.Table, rq.Address, rq.Quantity, err)
			}
			p.Errors = append(p.Errors, fmt.Sprintf("%s %d+%d: %v", rq.Table, rq.Address, rq.Quantity, err))
			continue
		}
		for _, r := range rq.Values {
			off := r.Address - rq.Address
			if off >= len(words) {
				p.Errors = append(p.Errors, fmt.Sprintf("%s: the device answered %d registers of %d", r.Field, len(words), rq.Quantity))
				continue
			}
			v, err := Decode(r, words[off:])
			if err != nil {
				p.Errors = append(p.Errors, fmt.Sprintf("%s: %v", r.Field, err))
				continue
			}
			p.Fields[r.Field] = v
		}
	}
	return p, nil
}

// read reads one request: registers as read, bits as 0 or 1.
func read(c *modbus.ModbusClient, rq Request) ([]uint16, error) {
	addr, qty := uint16(rq.Address), uint16(rq.Quantity)
	var bits []bool
	var err error
	switch rq.Table {
	case "holding":
		return c.ReadRegisters(addr, qty, modbus.HOLDING_REGISTER)
	case "input":
		return c.ReadRegisters(addr, qty, modbus.INPUT_REGISTER)
	case "coil":
		bits, err = c.ReadCoils(addr, qty)
	default:
		bits, err = c.ReadDiscreteInputs(addr, qty)
	}
	words := make([]uint16, len(bits))
	for i, b := range bits {
		if b {
			words[i] = 1
		}
	}
	return words, err
}

// answered reports whether err is an exception the device answered
// with, rather than no answer.
func answered(err error) bool {
	for _, e := range []error{modbus.ErrIllegalFunction, modbus.ErrIllegalDataAddress, modbus.ErrIllegalDataValue, modbus.ErrServerDeviceFailure} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (d *device) connect() (*modbus.ModbusClient, error) {
	if d.client != nil {
		return d.client, nil
	}
	c, err := modbus.NewClient(&modbus.ClientConfiguration{URL: "tcp://" + d.cfg.Address, Timeout: d.cfg.Timeout,
		Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		return nil, err
	}
	if err := c.Open(); err != nil {
		return nil, err
	}
	if err := c.SetUnitId(uint8(d.cfg.UnitID)); err != nil {
		c.Close()
		return nil, err
	}
	d.client = c
	return c, nil
}

func (d *device) close() {
	if d.client != nil {
		d.client.Close()
		d.client = nil
	}
}
