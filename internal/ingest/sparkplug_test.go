package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/input/sparkplug/sparkplugb"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestSparkplugInOrderThroughOutage: an edge node's birth and the data
// after it, through aliases and across seq's wrap, in batches large
// enough to be decoded on several cores, while the store refuses the
// first writes (the batch is decoded again, after the next one): every
// message is read through
// the aliases its birth taught, the counter wraps without loss, and a
// second delivery stores nothing twice.
func TestSparkplugInOrderThroughOutage(t *testing.T) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.Sensors["plc"] = &config.Sensor{Match: config.Match{Topic: "never/#"}}
	cfg.Inputs = []config.Input{{Format: "sparkplug", Topics: []string{"spBv1.0/ingest-test/+/+"}, Customer: "finemeca", Sensor: "plc"}}
	var st *flakyStore
	p := startPipeline(t, cfg, 300, func(s store.Store) store.Store {
		st = &flakyStore{Store: s, away: true}
		st.failures.Store(1 << 30) // until the messages are all on the queue
		return st
	})
	t0 := time.Date(2022, 7, 18, 9, 0, 0, 0, time.UTC)
	const n = 300
	var envs []reading.Envelope
	for i := range n {
		m := &sparkplugb.Payload_Metric{Alias: proto.Uint64(1), Datatype: proto.Uint32(uint32(sparkplugb.DataType_Double)),
			Value: &sparkplugb.Payload_Metric_DoubleValue{DoubleValue: float64(i)}}
		kind := "NDATA"
		if i == 0 {
			kind, m.Name = "NBIRTH", proto.String("Flow")
		}
		b, err := proto.Marshal(&sparkplugb.Payload{Timestamp: proto.Uint64(uint64(t0.Add(time.Duration(i) * time.Second).UnixMilli())),
			Seq: proto.Uint64(uint64(i % 256)), Metrics: []*sparkplugb.Payload_Metric{m}})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, reading.Envelope{Topic: "spBv1.0/ingest-test/" + kind + "/E1", Payload: b, Received: time.Now(), Source: "test"})
	}
	for round := range 2 {
		if err := p.fw.Forward(ctx, envs...); err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			testenv.Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
				if c := st.calls.Load(); c < 2 {
					return fmt.Errorf("%d writes", c)
				}
				return nil
			})
			st.failures.Store(0)
		}
		testenv.Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
			if k, _ := p.cons.Pending(ctx); k != 0 {
				return fmt.Errorf("round %d: %d raw messages still pending", round, k)
			}
			devs, _ := p.st.Devices(ctx, store.DeviceFilter{})
			if len(devs) != 1 || devs[0].Readings != n {
				return fmt.Errorf("round %d: devices %+v, want E1 with %d readings", round, devs, n)
			}
			return nil
		})
	}
	devs, _ := p.st.Devices(ctx, store.DeviceFilter{})
	if d := devs[0]; d.Device != "E1" || d.Lost != 0 {
		t.Errorf("edge node %+v, want none lost across the wrap", d)
	}
	if rj, _ := p.st.CountRejected(ctx, store.RejectedFilter{}); rj != 0 {
		r, _ := p.st.Rejected(ctx, store.RejectedFilter{})
		t.Errorf("%d messages rejected, want none: each read through its birth's aliases: %+v", rj, r)
	}
}
