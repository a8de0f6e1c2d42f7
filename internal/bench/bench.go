// Package bench measures sensorhub end to end through a real MQTT broker,
// beside the raw broker publish/subscribe rate measured in the same run, so
// that the result is a ratio that means the same on any machine.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/gateway"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/store"
)

// Options configures a run.
type Options struct {
	// Config is the sensorhub configuration to measure; its data_dir should
	// be a fresh directory. With mqtt.broker builtin, the built-in broker is
	// measured; otherwise the external broker named there.
	Config *config.Config
	// N is the number of messages.
	N int
	// QoS of the publisher.
	QoS byte
	// Devices spreads the messages over this many devices.
	Devices int
	Log     *slog.Logger
}

// Result is what a run measured.
type Result struct {
	N          int
	RawRate    float64 // broker publish -> subscriber, messages/s
	StoredRate float64 // publish -> stored in the store, messages/s
	Stored     int64
}

// Ratio is the end-to-end rate as a share of the raw broker rate.
func (r Result) Ratio() float64 { return r.StoredRate / r.RawRate }

// Report writes the result for a person.
func (r Result) Report(w io.Writer, o Options) {
	fmt.Fprintf(w, "messages            %d (QoS %d, %d devices)\n", r.N, o.QoS, o.Devices)
	fmt.Fprintf(w, "broker              %s\n", o.Config.MQTT.Broker)
	fmt.Fprintf(w, "queue / store       %s / %s\n", o.Config.Queue.Engine, o.Config.Store.Engine)
	fmt.Fprintf(w, "raw broker pub/sub  %10.0f msg/s\n", r.RawRate)
	fmt.Fprintf(w, "stored end to end   %10.0f msg/s (%d stored)\n", r.StoredRate, r.Stored)
	fmt.Fprintf(w, "ratio               %10.2f\n", r.Ratio())
}

// Run measures the raw broker rate, then the end-to-end rate.
func Run(ctx context.Context, o Options) (Result, error) {
	res := Result{N: o.N}
	if o.Devices < 1 {
		o.Devices = 100
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg := o.Config
	payloads := makePayloads(cfg.Customers[0], o.N, o.Devices)

	// Raw: the same broker, a plain subscriber, no sensorhub behind it.
	brokerURL := cfg.MQTT.Broker
	if brokerURL == "builtin" {
		b, err := gateway.StartBroker(&gateway.Forwarder{Metrics: metrics.New(), Log: o.Log},
			gateway.BrokerOptions{Listen: "127.0.0.1:0", MaxPendingWrites: cfg.MQTT.Builtin.MaxPendingWrites,
				MaxInflight: cfg.MQTT.Builtin.MaxInflight, MaxPacket: uint32(cfg.MQTT.Builtin.MaxPacket)}, o.Log)
		if err != nil {
			return res, err
		}
		brokerURL = "tcp://" + b.Addr().String()
		defer b.Close()
	}
	raw, err := rawRate(ctx, brokerURL, payloads, o.QoS)
	if err != nil {
		return res, fmt.Errorf("raw broker run: %w", err)
	}
	res.RawRate = raw

	a, err := app.Start(ctx, cfg, app.Options{}, o.Log)
	if err != nil {
		return res, err
	}
	defer a.Close()
	target := cfg.MQTT.Broker
	if target == "builtin" {
		target = "tcp://" + a.MQTTAddr()
	}
	// Warm up: one message through the whole path before timing.
	pub, err := connect(target, "sensorhub-bench-pub")
	if err != nil {
		return res, err
	}
	defer pub.Disconnect(100)
	topic := cfg.Customers[0] + "/bench"
	start := time.Now()
	if err := publishAll(pub, topic, payloads, o.QoS, a.Forwarded); err != nil {
		return res, err
	}
	lastProgress, last := time.Now(), int64(-1)
	for {
		n, err := storedCount(ctx, a.Store)
		if err != nil {
			return res, err
		}
		res.Stored = n
		if n >= int64(o.N) {
			break
		}
		if n != last {
			lastProgress, last = time.Now(), n
		}
		if time.Since(lastProgress) > 30*time.Second {
			return res, fmt.Errorf("stalled: %d of %d stored, %d taken by the gateway (a broker that drops messages, such as Mosquitto past max_queued_messages, loses the rest)", n, o.N, a.Forwarded())
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		time.Sleep(5 * time.Millisecond)
	}
	res.StoredRate = float64(o.N) / time.Since(start).Seconds()
	return res, nil
}

func makePayloads(customer string, n, devices int) [][]byte {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([][]byte, n)
	for i := range out {
		dev, seq := i%devices, i/devices
		out[i] = []byte(fmt.Sprintf(`{"Customer":%q,"idGateway":170,"idDevice":%d,"Device":"bench-%d","Time":"%s","msgCount":%d,"Length":100,"RSSI":-51,"SNR":9,"Mod":"weath","Pres":1013,"Pres-U":"hPa","Temp":%.2f,"Temp-U":"C","Hum":61,"Hum-U":"%%"}`,
			customer, 10000+dev, dev, base.Add(time.Duration(seq)*time.Second).Format("2006-01-02 15:04:05"), seq+1, 10+float64(i%1000)/100))
	}
	return out
}

func connect(url, id string) (paho.Client, error) {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("%s-%d", id, time.Now().UnixNano())).
		SetCleanSession(true).SetOrderMatters(false))
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("connect to %s: %v", url, tok.Error())
	}
	return c, nil
}

// maxAhead is how far the publisher may run ahead of the subscriber.
// Mosquitto with its default max_queued_messages (1000) drops messages for
// a subscriber far behind, which would measure loss, not speed; 800 ahead
// was seen to trigger it, 400 not.
const maxAhead = 400

// publishAll publishes with a window of outstanding QoS 1 messages, as a
// busy radio gateway does, never more than maxAhead ahead of taken().
func publishAll(c paho.Client, topic string, payloads [][]byte, qos byte, taken func() int64) error {
	window := make(chan paho.Token, 256)
	errc := make(chan error, 1)
	go func() {
		for tok := range window {
			tok.Wait()
			if tok.Error() != nil {
				select {
				case errc <- tok.Error():
				default:
				}
			}
		}
		close(errc)
	}()
	for i, p := range payloads {
		for wait := time.Now(); int64(i)-taken() > maxAhead; {
			if time.Since(wait) > 30*time.Second {
				return fmt.Errorf("stalled: %d published, %d taken by the subscriber", i, taken())
			}
			time.Sleep(100 * time.Microsecond)
		}
		window <- c.Publish(topic, qos, false, p)
	}
	close(window)
	return <-errc
}

func rawRate(ctx context.Context, url string, payloads [][]byte, qos byte) (float64, error) {
	sub, err := connect(url, "sensorhub-bench-sub")
	if err != nil {
		return 0, err
	}
	defer sub.Disconnect(100)
	var got atomic.Int64
	done := make(chan struct{})
	topic := fmt.Sprintf("sensorhub-bench/raw/%d", time.Now().UnixNano())
	tok := sub.Subscribe(topic, qos, func(_ paho.Client, _ paho.Message) {
		if got.Add(1) == int64(len(payloads)) {
			close(done)
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return 0, fmt.Errorf("subscribe: %v", tok.Error())
	}
	pub, err := connect(url, "sensorhub-bench-rawpub")
	if err != nil {
		return 0, err
	}
	defer pub.Disconnect(100)
	start := time.Now()
	if err := publishAll(pub, topic, payloads, qos, got.Load); err != nil {
		return 0, err
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		return 0, fmt.Errorf("subscriber got %d of %d messages", got.Load(), len(payloads))
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return float64(len(payloads)) / time.Since(start).Seconds(), nil
}

func storedCount(ctx context.Context, s store.Store) (int64, error) {
	devs, err := s.Devices(ctx, store.DeviceFilter{})
	if err != nil {
		return 0, err
	}
	var n int64
	for _, d := range devs {
		n += d.Readings
	}
	return n, nil
}
