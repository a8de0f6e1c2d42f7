package modbus

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simonvetter/modbus"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/logx"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

func f32words(v float32) []uint16 {
	b := math.Float32bits(v)
	return []uint16{uint16(b >> 16), uint16(b)}
}

// TestDecode decodes each type in each word and byte order.
func TestDecode(t *testing.T) {
	f64 := math.Float64bits(-1234.5678)
	f64w := []uint16{uint16(f64 >> 48), uint16(f64 >> 32), uint16(f64 >> 16), uint16(f64)}
	for _, c := range []struct {
		reg   config.Register
		words []uint16
		want  float64
	}{
		{config.Register{Type: "int16"}, []uint16{0xFFFE}, -2},
		{config.Register{Type: "int16", ByteOrder: "little"}, []uint16{0xFEFF}, -2},
		{config.Register{Type: "uint16", Scale: 0.1}, []uint16{2305}, 2305 * 0.1},
		{config.Register{Type: "int32"}, []uint16{0xFFFF, 0xFFFD}, -3},
		{config.Register{Type: "int32", WordOrder: "low_first"}, []uint16{0xFFFD, 0xFFFF}, -3},
		{config.Register{Type: "uint32"}, []uint16{0x0001, 0x0002}, 65538},
		{config.Register{Type: "uint32", WordOrder: "low_first", ByteOrder: "little"}, []uint16{0x0200, 0x0100}, 65538},
		{config.Register{Type: "float32"}, f32words(230.5), 230.5},
		{config.Register{Type: "float32", WordOrder: "low_first"}, []uint16{f32words(230.5)[1], f32words(230.5)[0]}, 230.5},
		{config.Register{Type: "float32", ByteOrder: "little"}, []uint16{0x6643, 0x0080}, 230.5},
		{config.Register{Type: "float64"}, f64w, -1234.5678},
		{config.Register{Type: "float64", WordOrder: "low_first"}, []uint16{f64w[3], f64w[2], f64w[1], f64w[0]}, -1234.5678},
	} {
		got, err := Decode(c.reg, c.words)
		if err != nil || got != c.want {
			t.Errorf("%+v of %04x = %v, %v; want %v", c.reg, c.words, got, err, c.want)
		}
	}
	if _, err := Decode(config.Register{Type: "float32"}, []uint16{0x7FC0, 0}); err == nil {
		t.Error("a NaN decoded")
	}
}

// FuzzDecode checks that a value in any word and byte order decodes as
// the same value put back in Modbus' own order (high word first, big
// endian), and that integers stay in their type's range.
func FuzzDecode(f *testing.F) {
	f.Add(uint8(4), false, false, []byte{0x43, 0x66, 0x80, 0x00, 0, 0, 0, 0})
	f.Add(uint8(0), true, true, []byte{0xFF, 0xFE})
	f.Add(uint8(5), true, false, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, typ uint8, lowFirst, little bool, data []byte) {
		r := config.Register{Type: TypeNames[int(typ)%len(TypeNames)]}
		n := Types[r.Type]
		if len(data) < 2*n {
			return
		}
		words := make([]uint16, n)
		for i := range words {
			words[i] = binary.BigEndian.Uint16(data[2*i:])
		}
		canon := slices.Clone(words)
		if lowFirst {
			r.WordOrder = "low_first"
			slices.Reverse(canon)
		}
		if little {
			r.ByteOrder = "little"
			for i, w := range canon {
				canon[i] = w>>8 | w<<8
			}
		}
		got, err := Decode(r, words)
		want, werr := Decode(config.Register{Type: r.Type}, canon)
		if (err == nil) != (werr == nil) || (err == nil && got != want) {
			t.Fatalf("%+v of %04x = %v, %v; in Modbus order %04x = %v, %v", r, words, got, err, canon, want, werr)
		}
		if err != nil {
			return
		}
		if math.IsNaN(got) || math.IsInf(got, 0) {
			t.Fatalf("%+v gave %v", r, got)
		}
		ranges := map[string][2]float64{"int16": {math.MinInt16, math.MaxInt16}, "uint16": {0, math.MaxUint16},
			"int32": {math.MinInt32, math.MaxInt32}, "uint32": {0, math.MaxUint32}}
		if rg, ok := ranges[r.Type]; ok && (got < rg[0] || got > rg[1] || got != math.Trunc(got)) {
			t.Fatalf("%s decoded to %v", r.Type, got)
		}
	})
}

// TestPlan merges contiguous and overlapping registers, keeps tables
// and gaps apart, and splits at the span.
func TestPlan(t *testing.T) {
	show := func(rs []Request) string {
		var out []string
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%s %d+%d (%d)", r.Table, r.Address, r.Quantity, len(r.Values)))
		}
		return strings.Join(out, ", ")
	}
	if got, want := show(Plan(Maps["sdm630"], 0)), "input 0+18 (9), input 52+2 (1), input 62+2 (1), input 70+6 (3), input 342+2 (1)"; got != want {
		t.Errorf("sdm630 requests: %s, want %s", got, want)
	}
	if got, want := show(Plan(Maps["umg604"], 0)), "holding 19000+6 (3), holding 19012+6 (3), holding 19020+8 (4), holding 19050+2 (1), holding 19060+2 (1), holding 19068+2 (1), holding 19076+2 (1)"; got != want {
		t.Errorf("umg604 requests: %s, want %s", got, want)
	}
	regs := []config.Register{
		{Field: "a", Table: "holding", Address: 10, Type: "float64"},
		{Field: "b", Table: "holding", Address: 14, Type: "uint16"},
		{Field: "b_lo", Table: "holding", Address: 14, Type: "int16"},
		{Field: "c", Table: "holding", Address: 15, Type: "uint32"},
		{Field: "d", Table: "coil", Address: 3},
		{Field: "e", Table: "coil", Address: 4},
		{Field: "f", Table: "holding", Address: 0, Type: "int16"},
	}
	if got, want := show(Plan(regs, 0)), "coil 3+2 (2), holding 0+1 (1), holding 10+7 (4)"; got != want {
		t.Errorf("requests %s, want %s", got, want)
	}
	if got, want := show(Plan(regs, 6)), "coil 3+2 (2), holding 0+1 (1), holding 10+5 (3), holding 15+2 (1)"; got != want {
		t.Errorf("requests with max_span 6: %s, want %s", got, want)
	}
}

// meter is an in-process Modbus server: holding registers it serves,
// the requests it was sent, and the unit id it answers.
type meter struct {
	mu       sync.Mutex
	holding  map[uint16]uint16
	coils    map[uint16]bool
	requests []string
}

func (m *meter) HandleCoils(req *modbus.CoilsRequest) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests = append(m.requests, fmt.Sprintf("coil %d+%d", req.Addr, req.Quantity))
	out := make([]bool, req.Quantity)
	for i := range out {
		out[i] = m.coils[req.Addr+uint16(i)]
	}
	return out, nil
}

func (m *meter) HandleDiscreteInputs(*modbus.DiscreteInputsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}

func (m *meter) HandleHoldingRegisters(req *modbus.HoldingRegistersRequest) ([]uint16, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests = append(m.requests, fmt.Sprintf("holding %d+%d unit %d", req.Addr, req.Quantity, req.UnitId))
	if req.Addr >= 100 {
		return nil, modbus.ErrIllegalDataAddress
	}
	out := make([]uint16, req.Quantity)
	for i := range out {
		out[i] = m.holding[req.Addr+uint16(i)]
	}
	return out, nil
}

func (m *meter) HandleInputRegisters(*modbus.InputRegistersRequest) ([]uint16, error) {
	return nil, modbus.ErrIllegalFunction
}

func (m *meter) take() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.requests
	m.requests = nil
	return out
}

func serve(t *testing.T, addr string, m *meter) *modbus.ModbusServer {
	t.Helper()
	s, err := modbus.NewServer(&modbus.ServerConfiguration{URL: "tcp://" + addr, Timeout: time.Minute, MaxClients: 4,
		Logger: log.New(io.Discard, "", 0)}, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

// TestPoll polls an in-process server poll by poll: contiguous registers
// read in one request, the values, an exception answered for one request
// kept in the poll's errors, a server that stops (the polls lost, none
// published, the device waited for) and comes back (the count shows the
// gap).
func TestPoll(t *testing.T) {
	addr := testenv.FreeAddr(t)
	m := &meter{holding: map[uint16]uint16{}, coils: map[uint16]bool{5: true}}
	copy := func(at uint16, ws []uint16) {
		m.mu.Lock()
		defer m.mu.Unlock()
		for i, w := range ws {
			m.holding[at+uint16(i)] = w
		}
	}
	copy(0, f32words(230.5))
	copy(2, f32words(12.25))
	copy(4, []uint16{0, 7}) // uint32 low word first: 7<<16
	copy(6, []uint16{0xFFF6})
	srv := serve(t, addr, m)

	dev := config.ModbusDevice{Device: "m1", Customer: "finemeca", Sensor: "meter", Address: addr, UnitID: 3,
		Interval: time.Second, Backoff: 4 * time.Second, Registers: []config.Register{
			{Field: "U", Table: "holding", Address: 0, Type: "float32", Unit: "V"},
			{Field: "I", Table: "holding", Address: 2, Type: "float32", Unit: "A"},
			{Field: "E", Table: "holding", Address: 4, Type: "uint32", WordOrder: "low_first", Scale: 0.5, Counter: true},
			{Field: "T", Table: "holding", Address: 6, Type: "int16", Scale: 0.1},
			{Field: "X", Table: "holding", Address: 100, Type: "int16"},
			{Field: "on", Table: "coil", Address: 5},
		}}
	var sent []reading.Envelope
	var ids []string
	p := &Poller{Log: slog.New(slog.DiscardHandler), Forward: func(_ context.Context, id string, env reading.Envelope) error {
		sent, ids = append(sent, env), append(ids, id)
		return nil
	}}
	d := newDevice(dev, dev.Registers)
	defer d.close()
	limit := logx.NewLimiter(p.Log, time.Minute)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tick := func(n int64) { d.tick(context.Background(), p, t0.Add(time.Duration(n-1)*time.Second), n, limit) }
	last := func() Poll {
		var got Poll
		if err := json.Unmarshal(sent[len(sent)-1].Payload, &got); err != nil {
			t.Fatal(err)
		}
		return got
	}

	tick(1)
	if got, want := strings.Join(m.take(), ", "), "coil 5+1, holding 0+7 unit 3, holding 100+1 unit 3"; got != want {
		t.Errorf("requests %s, want %s: the contiguous registers in one", got, want)
	}
	got := last()
	if len(sent) != 1 || got.Count != 1 || !got.Time.Equal(t0) || got.Device != "m1" || got.Address != addr ||
		fmt.Sprint(got.Fields) != "map[E:229376 I:12.25 T:-1 U:230.5 on:1]" || got.Units["U"] != "V" ||
		len(got.Errors) != 1 || !strings.Contains(got.Errors[0], "illegal data address") {
		t.Fatalf("poll %+v", got)
	}
	if sent[0].Topic != "modbus/finemeca/m1" || ids[0] != fmt.Sprintf("modbus/finemeca/meter/m1/%d", t0.UnixNano()) {
		t.Errorf("topic %s, id %s", sent[0].Topic, ids[0])
	}

	// The server goes away: polls 2 and 3 fail (3 is waited for: the
	// backoff doubles), 4 is not tried.
	srv.Stop()
	tick(2)
	tick(3)
	tick(4)
	if len(sent) != 1 || d.failures != 2 {
		t.Fatalf("%d polls sent, %d failures, want 1 and 2", len(sent), d.failures)
	}
	// It comes back; poll 5 is tried and answered, with count 5.
	copy(0, f32words(231))
	serve(t, addr, m)
	tick(5)
	if len(sent) != 2 || last().Count != 5 || last().Fields["U"] != 231 || d.failures != 0 {
		t.Fatalf("after the server came back: %d sent, %+v", len(sent), last())
	}
}

// TestFormat reads a poll into the record ingest maps.
func TestFormat(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	payload, _ := json.Marshal(Poll{Customer: "finemeca", Sensor: "meter", Device: "m1", Address: "10.0.0.5:502", Count: 42, Time: t0,
		Fields: map[string]float64{"U": 230.5}, Units: map[string]string{"U": "V"}, Errors: []string{"holding 100+1: illegal data address"}})
	rec, err := Format{}.Read(reading.Message{Topic: "modbus/finemeca/m1", Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Customer != "finemeca" || rec.Sensor != "meter" || rec.Device != "m1" || rec.Gateway != "10.0.0.5:502" || rec.MsgCount != 42 ||
		!rec.Time.Equal(t0) || rec.Fields["U"] != 230.5 || rec.Units["U"] != "V" || !strings.Contains(rec.Strings["modbus_errors"], "illegal data address") {
		t.Errorf("record %+v", rec)
	}
	for _, bad := range []string{`{}`, `{"customer":"finemeca","device":"m1","time":"2026-03-01T10:00:00Z"}`, `{"x":1}`, `[`} {
		if _, err := (Format{}).Read(reading.Message{Payload: []byte(bad)}); err == nil {
			t.Errorf("%s read", bad)
		}
	}
}

// TestDeadDeviceSlowsNoOther runs the poller over a device that takes
// the connection and never answers, and a meter that does: the meter's
// polls go on while the other's first request waits for its timeout.
func TestDeadDeviceSlowsNoOther(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := dead.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		dead.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	addr := testenv.FreeAddr(t)
	m := &meter{holding: map[uint16]uint16{0: 7}}
	serve(t, addr, m)

	regs := []config.Register{{Field: "x", Table: "holding", Address: 0, Type: "uint16"}}
	polls := make(chan Poll, 100)
	p := &Poller{Log: slog.New(slog.DiscardHandler), Devices: []config.ModbusDevice{
		{Device: "dead", Customer: "finemeca", Sensor: "meter", Address: dead.Addr().String(), Interval: time.Minute, Timeout: time.Minute, Registers: regs},
		{Device: "live", Customer: "finemeca", Sensor: "meter", Address: addr, Interval: 100 * time.Millisecond, Registers: regs},
	}, Forward: func(_ context.Context, _ string, env reading.Envelope) error {
		var got Poll
		if err := json.Unmarshal(env.Payload, &got); err != nil {
			t.Error(err)
		}
		polls <- got
		return nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		p.Run(ctx)
		close(done)
	}()
	// Once the dead device has its connection (its request waits a
	// minute), the meter is polled five times.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(held)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dead device never connected")
		}
	}
	for len(polls) > 0 {
		<-polls
	}
	for i := range 5 {
		select {
		case got := <-polls:
			if got.Device != "live" || got.Fields["x"] != 7 {
				t.Fatalf("poll %d: %+v", i, got)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%d polls of the live meter while the dead device's request waits", i)
		}
	}
	cancel()
	// The dead device's request ends when its connection does.
	mu.Lock()
	for _, c := range held {
		c.Close()
	}
	mu.Unlock()
	<-done
}
