package sparkplug_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sensorhub/sensorhub/internal/input/inputtest"
	"github.com/sensorhub/sensorhub/internal/input/sparkplug"
	"github.com/sensorhub/sensorhub/internal/input/sparkplug/sparkplugb"
	"github.com/sensorhub/sensorhub/internal/reading"
)

const (
	filters = "spBv1.0/+/+/+"
	devices = "spBv1.0/+/+/+/+"
	// t0 is 2022-07-18T09:34:00Z in ms.
	t0 = uint64(1658136840000)
)

func metric(name string, alias uint64, dt sparkplugb.DataType) *sparkplugb.Payload_Metric {
	m := &sparkplugb.Payload_Metric{Datatype: proto.Uint32(uint32(dt))}
	if name != "" {
		m.Name = proto.String(name)
	}
	if alias != 0 {
		m.Alias = proto.Uint64(alias)
	}
	return m
}

func double(m *sparkplugb.Payload_Metric, v float64) *sparkplugb.Payload_Metric {
	m.Value = &sparkplugb.Payload_Metric_DoubleValue{DoubleValue: v}
	return m
}

func payload(t testing.TB, ts, seq uint64, ms ...*sparkplugb.Payload_Metric) []byte {
	t.Helper()
	p := &sparkplugb.Payload{Timestamp: proto.Uint64(ts), Seq: proto.Uint64(seq), Metrics: ms}
	b, err := proto.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Payloads are the messages of testdata, as an edge node Plant1/Edge1
// with a device Boiler publishes them.
func Payloads(t testing.TB) map[string][]byte {
	rebirth := metric("Node Control/Rebirth", 0, sparkplugb.DataType_Boolean)
	rebirth.Value = &sparkplugb.Payload_Metric_BooleanValue{BooleanValue: false}
	bdSeq := metric("bdSeq", 0, sparkplugb.DataType_UInt64)
	bdSeq.Value = &sparkplugb.Payload_Metric_LongValue{LongValue: 3}
	status := metric("Status/Mode", 3, sparkplugb.DataType_String)
	status.Value = &sparkplugb.Payload_Metric_StringValue{StringValue: "running"}
	power := metric("Power", 2, sparkplugb.DataType_Int32)
	power.Value = &sparkplugb.Payload_Metric_IntValue{IntValue: uint32(0xFFFFFFF6)} // -10 as Int32
	running := metric("Running", 12, sparkplugb.DataType_Boolean)
	running.Value = &sparkplugb.Payload_Metric_BooleanValue{BooleanValue: true}
	historical := double(metric("", 11, sparkplugb.DataType_Double), 61.5)
	historical.Timestamp = proto.Uint64(t0 - 60000)
	historical.IsHistorical = proto.Bool(true)
	null := metric("", 11, sparkplugb.DataType_Double)
	null.IsNull = proto.Bool(true)
	death := &sparkplugb.Payload{Timestamp: proto.Uint64(t0 + 9000), Metrics: []*sparkplugb.Payload_Metric{bdSeq}}
	deathBytes, err := proto.Marshal(death)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"nbirth.bin":              payload(t, t0, 0, rebirth, bdSeq, double(metric("Inputs/Supply Voltage", 1, sparkplugb.DataType_Double), 231.5), power, status),
		"dbirth.bin":              payload(t, t0+1000, 1, double(metric("Temperature", 11, sparkplugb.DataType_Double), 62.25), running),
		"ndata.bin":               payload(t, t0+2000, 2, double(metric("", 1, sparkplugb.DataType_Double), 229.0)),
		"ddata.bin":               payload(t, t0+3000, 3, double(metric("", 11, sparkplugb.DataType_Double), 63.0), historical),
		"ddata-null.bin":          payload(t, t0+3000, 4, null),
		"ddata-unknown-alias.bin": payload(t, t0+4000, 5, double(metric("", 99, sparkplugb.DataType_Double), 1)),
		"ddeath.bin":              payload(t, t0+8000, 6),
		"ndeath.bin":              deathBytes,
	}
}

// TestPayloadFiles keeps testdata's payloads (the fuzz seeds, and what
// the README shows) those the tests build (go test -update writes them).
func TestPayloadFiles(t *testing.T) {
	for name, b := range Payloads(t) {
		path := filepath.Join("testdata", name)
		if inputtest.Updating() {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%s is not the payload the tests build (go test -run TestPayloadFiles -update)", path)
		}
	}
}

// outcome is what a message decodes to.
type outcome struct {
	Readings []reading.Reading
	Rejected string
	Customer string
}

func decodeAll(t testing.TB, d *reading.Decoder, topic string, payload []byte) outcome {
	t.Helper()
	rs, err := d.DecodeAll(reading.Envelope{Topic: topic, Payload: payload, Received: inputtest.Received, Source: "mqtt"})
	if err != nil {
		rj, ok := errors.AsType[*reading.RejectError](err)
		if !ok {
			t.Fatalf("not a rejection: %v", err)
		}
		return outcome{Rejected: rj.Reason, Customer: rj.Customer}
	}
	return outcome{Readings: rs}
}

// TestGolden reads an edge node's life, in order, through one decoder:
// birth, device birth, data through aliases, a historical and a null
// value, an unknown alias, deaths; then data after the node's death.
func TestGolden(t *testing.T) {
	nodes := sparkplug.NewNodes()
	var asked []string
	nodes.SetRebirth(func(group, node string) { asked = append(asked, group+"/"+node) })
	f := &sparkplug.Format{Sensor: "weather", Devices: map[string]string{"Edge1:Boiler": "weather"}, Nodes: nodes}
	d := inputtest.Decoder(f, filters, devices, "spBv1.0/STATE/+")
	d.Customers["Plant1"] = true
	const n, dev = "spBv1.0/Plant1/%s/Edge1", "spBv1.0/Plant1/%s/Edge1/Boiler"
	inputtest.Golden(t, []inputtest.Case{
		{Name: "nbirth", Topic: sprintf(n, "NBIRTH"), File: "nbirth.bin", Decoder: d},
		{Name: "dbirth", Topic: sprintf(dev, "DBIRTH"), File: "dbirth.bin", Decoder: d},
		{Name: "ndata", Topic: sprintf(n, "NDATA"), File: "ndata.bin", Decoder: d},
		{Name: "ddata", Topic: sprintf(dev, "DDATA"), File: "ddata.bin", Decoder: d},
		{Name: "ddata-again", Topic: sprintf(dev, "DDATA"), File: "ddata.bin", Decoder: d},
		{Name: "ddata-null", Topic: sprintf(dev, "DDATA"), File: "ddata-null.bin", Decoder: d},
		{Name: "ddata-unknown-alias", Topic: sprintf(dev, "DDATA"), File: "ddata-unknown-alias.bin", Decoder: d},
		{Name: "ddeath", Topic: sprintf(dev, "DDEATH"), File: "ddeath.bin", Decoder: d},
		{Name: "ndeath", Topic: sprintf(n, "NDEATH"), File: "ndeath.bin", Decoder: d},
		{Name: "ddata-after-death", Topic: sprintf(dev, "DDATA"), File: "ddata.bin", Decoder: d},
		{Name: "state", Topic: "spBv1.0/STATE/scada", File: "ndeath.bin", Decoder: d},
		{Name: "ncmd", Topic: sprintf(n, "NCMD"), File: "ndata.bin", Decoder: d},
		{Name: "not-protobuf", Topic: sprintf(n, "NDATA"), File: "../../chirpstack/testdata/up.json", Decoder: d},
		{Name: "unknown-type", Topic: sprintf(n, "NFOO"), File: "ndata.bin", Decoder: d},
		{Name: "device-topic-without-device", Topic: "spBv1.0/Plant1/DDATA/Edge1", File: "ddata.bin", Decoder: d},
		{Name: "unknown-group", Topic: "spBv1.0/Plant9/NBIRTH/Edge1", File: "nbirth.bin", Decoder: d},
	})
	// Once for the unknown alias, and again after the death forgot the
	// aliases.
	if want := []string{"Plant1/Edge1", "Plant1/Edge1"}; strings.Join(asked, ",") != strings.Join(want, ",") {
		t.Errorf("rebirths asked of %q, want %q", asked, want)
	}
}

func sprintf(format, kind string) string { return strings.Replace(format, "%s", kind, 1) }

// counts decodes NDATA messages of seqs in order after a birth and
// returns the edge node's message counters.
func counts(t *testing.T, seqs ...uint64) []int64 {
	nodes := sparkplug.NewNodes()
	d := inputtest.Decoder(&sparkplug.Format{Sensor: "weather", Nodes: nodes}, filters)
	d.Customers["G"] = true
	var out []int64
	for i, seq := range append([]uint64{0}, seqs...) {
		topic := "spBv1.0/G/NDATA/E"
		if i == 0 {
			topic = "spBv1.0/G/NBIRTH/E"
		}
		o := decodeAll(t, d, topic, payload(t, t0+uint64(i)*1000, seq, double(metric("v", 0, sparkplugb.DataType_Double), 1)))
		if o.Rejected != "" || len(o.Readings) != 1 {
			t.Fatalf("seq %d: %+v", seq, o)
		}
		out = append(out, o.Readings[0].MsgCount)
	}
	return out[1:]
}

// TestSeq checks the message counter the edge node's seq gives: a gap is
// a gap of the counter (loss), the wrap from 255 to 0 goes on counting
// (even across a gap), and an NBIRTH starts at 0 again (a restart).
func TestSeq(t *testing.T) {
	for _, c := range []struct {
		name string
		seqs []uint64
		want []int64
	}{
		{"in order", []uint64{1, 2, 3}, []int64{1, 2, 3}},
		{"gap", []uint64{1, 4}, []int64{1, 4}},
		{"wrap", append(seqRange(1, 255), 0, 1), append(countRange(1, 255), 256, 257)},
		{"gap across the wrap", []uint64{250, 253, 2}, []int64{250, 253, 258}},
		{"repeat", []uint64{1, 1}, []int64{1, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := counts(t, c.seqs...)
			if len(got) != len(c.want) {
				t.Fatalf("counters %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("counter %d is %d, want %d (all: %v)", i, got[i], c.want[i], got)
				}
			}
		})
	}
}

func seqRange(lo, hi uint64) []uint64 {
	var out []uint64
	for s := lo; s <= hi; s++ {
		out = append(out, s)
	}
	return out
}

func countRange(lo, hi int64) []int64 {
	var out []int64
	for s := lo; s <= hi; s++ {
		out = append(out, s)
	}
	return out
}

// TestRebirthAndReread checks that a message read again (a batch the
// store refused) gives the same counter, and that a rebirth (an NBIRTH)
// teaches the aliases again and starts the counter at 0.
func TestRebirthAndReread(t *testing.T) {
	nodes := sparkplug.NewNodes()
	asked := 0
	nodes.SetRebirth(func(string, string) { asked++ })
	d := inputtest.Decoder(&sparkplug.Format{Sensor: "weather", Nodes: nodes}, filters)
	d.Customers["G"] = true
	byAlias := payload(t, t0+5000, 7, double(metric("", 5, sparkplugb.DataType_Double), 2.5))
	if o := decodeAll(t, d, "spBv1.0/G/NDATA/E", byAlias); !strings.Contains(o.Rejected, "unknown alias 5 of edge node G/E: no birth seen since start; a rebirth was asked") || o.Customer != "G" {
		t.Fatalf("data before the birth: %+v", o)
	}
	if o := decodeAll(t, d, "spBv1.0/G/NDATA/E", byAlias); o.Rejected == "" || asked != 1 {
		t.Fatalf("asked %d times (want once until a birth): %+v", asked, o)
	}
	birth := payload(t, t0+6000, 0, double(metric("Flow", 5, sparkplugb.DataType_Double), 2))
	if o := decodeAll(t, d, "spBv1.0/G/NBIRTH/E", birth); len(o.Readings) != 1 || o.Readings[0].MsgCount != 0 || o.Readings[0].Fields["Flow"] != 2 {
		t.Fatalf("birth: %+v", o)
	}
	var first int64
	for i, seq := range []uint64{1, 2, 1} {
		ts := t0 + 7000 + seq*1000
		o := decodeAll(t, d, "spBv1.0/G/NDATA/E", payload(t, ts, seq, double(metric("", 5, sparkplugb.DataType_Double), 3)))
		if len(o.Readings) != 1 || o.Readings[0].Fields["Flow"] != 3 {
			t.Fatalf("data %d after the rebirth: %+v", i, o)
		}
		if i == 0 {
			first = o.Readings[0].MsgCount
		}
		if i == 2 && o.Readings[0].MsgCount != first {
			t.Fatalf("the message of seq 1 read again counts %d, first %d", o.Readings[0].MsgCount, first)
		}
	}
}

// FuzzDecode reads what the fuzzer makes of the testdata payloads on
// Sparkplug topics: readings every store takes, or rejections with their
// reasons.
func FuzzDecode(f *testing.F) {
	d := inputtest.Decoder(&sparkplug.Format{Sensor: "weather", Nodes: sparkplug.NewNodes()}, filters, devices)
	d.Customers["Plant1"] = true
	inputtest.Fuzz(f, d, [][2]string{
		{"spBv1.0/Plant1/NBIRTH/Edge1", "nbirth.bin"},
		{"spBv1.0/Plant1/DBIRTH/Edge1/Boiler", "dbirth.bin"},
		{"spBv1.0/Plant1/NDATA/Edge1", "ndata.bin"},
		{"spBv1.0/Plant1/DDATA/Edge1/Boiler", "ddata.bin"},
		{"spBv1.0/Plant1/NDEATH/Edge1", "ndeath.bin"},
	})
}

// TestNodeDeath checks that an NDEATH marks the node and every device it
// had born offline, and forgets its aliases.
func TestNodeDeath(t *testing.T) {
	d := inputtest.Decoder(&sparkplug.Format{Customer: "acme", Sensor: "weather", Nodes: sparkplug.NewNodes()}, filters, devices)
	for _, m := range []struct{ topic, file string }{
		{"spBv1.0/Plant1/NBIRTH/Edge1", "nbirth.bin"},
		{"spBv1.0/Plant1/DBIRTH/Edge1/Boiler", "dbirth.bin"},
		{"spBv1.0/Plant1/DBIRTH/Edge1/Pump", "dbirth.bin"},
	} {
		if o := decodeAll(t, d, m.topic, Payloads(t)[m.file]); o.Rejected != "" {
			t.Fatalf("%s: %s", m.topic, o.Rejected)
		}
	}
	o := decodeAll(t, d, "spBv1.0/Plant1/NDEATH/Edge1", Payloads(t)["ndeath.bin"])
	var offline []string
	for _, r := range o.Readings {
		if v, ok := r.Fields[sparkplug.FieldOnline]; ok && v == 0 && r.Customer == "acme" {
			offline = append(offline, r.Device)
		}
	}
	if got := strings.Join(offline, ","); got != "Edge1,Edge1:Boiler,Edge1:Pump" {
		t.Fatalf("offline after the node's death: %q (%+v)", got, o)
	}
	// No gateway in this process to ask for a rebirth: the reason says so.
	if o := decodeAll(t, d, "spBv1.0/Plant1/DDATA/Edge1/Boiler", Payloads(t)["ddata.bin"]); !strings.Contains(o.Rejected, "unknown alias 11 of edge node Plant1/Edge1: no birth seen since start; this process runs no gateway to ask for a rebirth") {
		t.Fatalf("data after the death, through an alias: %+v", o)
	}
}

// TestBirthReadAgain: an NBIRTH read again after a DBIRTH (its batch
// decoded again after the next one) keeps what the DBIRTH taught, and
// its counter.
func TestBirthReadAgain(t *testing.T) {
	d := inputtest.Decoder(&sparkplug.Format{Customer: "acme", Sensor: "weather", Nodes: sparkplug.NewNodes()}, filters, devices)
	var counts []int64
	for _, m := range []struct{ topic, file string }{
		{"spBv1.0/Plant1/NBIRTH/Edge1", "nbirth.bin"},
		{"spBv1.0/Plant1/DBIRTH/Edge1/Boiler", "dbirth.bin"},
		{"spBv1.0/Plant1/NBIRTH/Edge1", "nbirth.bin"},
		{"spBv1.0/Plant1/DDATA/Edge1/Boiler", "ddata.bin"},
	} {
		o := decodeAll(t, d, m.topic, Payloads(t)[m.file])
		if o.Rejected != "" {
			t.Fatalf("%s: %s", m.topic, o.Rejected)
		}
		counts = append(counts, o.Readings[len(o.Readings)-1].MsgCount)
	}
	if got := fmt.Sprint(counts); got != "[0 1 0 3]" {
		t.Errorf("counters %s, want [0 1 0 3]", got)
	}
}

// TestStaleDeath: an NDEATH whose bdSeq is not that of the node's last
// NBIRTH (the will of the session before, published after the node was
// born again) gives nothing and forgets nothing.
func TestStaleDeath(t *testing.T) {
	d := inputtest.Decoder(&sparkplug.Format{Customer: "acme", Sensor: "weather", Nodes: sparkplug.NewNodes()}, filters, devices)
	bd := metric("bdSeq", 0, sparkplugb.DataType_UInt64)
	bd.Value = &sparkplugb.Payload_Metric_LongValue{LongValue: 2}
	stale, err := proto.Marshal(&sparkplugb.Payload{Timestamp: proto.Uint64(t0 + 1500), Metrics: []*sparkplugb.Payload_Metric{bd}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		topic   string
		payload []byte
		want    int
	}{
		{"spBv1.0/Plant1/NBIRTH/Edge1", Payloads(t)["nbirth.bin"], 1}, // bdSeq 3
		{"spBv1.0/Plant1/DBIRTH/Edge1/Boiler", Payloads(t)["dbirth.bin"], 2},
		{"spBv1.0/Plant1/NDEATH/Edge1", stale, 0},                          // bdSeq 2
		{"spBv1.0/Plant1/DDATA/Edge1/Boiler", Payloads(t)["ddata.bin"], 3}, // aliases kept
		{"spBv1.0/Plant1/NDEATH/Edge1", Payloads(t)["ndeath.bin"], 2},      // bdSeq 3: the node and the Boiler
	} {
		o := decodeAll(t, d, m.topic, m.payload)
		if o.Rejected != "" || len(o.Readings) != m.want {
			t.Fatalf("%s: %d readings, want %d: %+v", m.topic, len(o.Readings), m.want, o)
		}
	}
}
