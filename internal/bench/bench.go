// Package bench measures sensorhub end to end through a real MQTT broker,
// beside the raw broker publish/subscribe rate measured in the same run, so
// that the result is a ratio that means the same on any machine.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
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
	// SSEClients, when positive, adds a run with that many clients
	// reading /api/v1/stream.
	SSEClients int
	// Rate paces the end-to-end publisher, in messages/s; 0 is as fast as
	// it can.
	Rate int
	// Ingestors, when positive, measures the split deployment instead:
	// Binary run as one gateway and this many ingestors, separate
	// processes on the configured external broker, queue and store.
	Ingestors int
	Binary    string
	Log       *slog.Logger
}

// Result is what a run measured.
type Result struct {
	N          int
	RawRate    float64 // broker publish -> subscriber, messages/s
	StoredRate float64 // publish -> stored in the store, messages/s
	Stored     int64
	// StreamRate is StoredRate with Options.SSEClients on the live stream,
	// each following one device; StreamAllRate with each taking every
	// reading.
	StreamRate, StreamAllRate float64
}

// Ratio is the end-to-end rate as a share of the raw broker rate.
func (r Result) Ratio() float64 { return r.StoredRate / r.RawRate }

// Report writes the result for a person.
func (r Result) Report(w io.Writer, o Options) {
	fmt.Fprintf(w, "messages            %d (QoS %d, %d devices)\n", r.N, o.QoS, o.Devices)
	if o.Rate > 0 {
		fmt.Fprintf(w, "publish rate        %d msg/s (end to end runs)\n", o.Rate)
	}
	fmt.Fprintf(w, "broker              %s\n", o.Config.MQTT.Broker)
	fmt.Fprintf(w, "queue / store       %s / %s\n", o.Config.Queue.Engine, o.Config.Store.Engine)
	if o.Ingestors > 0 {
		fmt.Fprintf(w, "processes           1 gateway, %d ingestor(s)\n", o.Ingestors)
	}
	fmt.Fprintf(w, "raw broker pub/sub  %10.0f msg/s\n", r.RawRate)
	fmt.Fprintf(w, "stored end to end   %10.0f msg/s (%d stored)\n", r.StoredRate, r.Stored)
	if o.Rate > 0 {
		fmt.Fprintf(w, "ratio               %10.2f (paced publisher: compare the stream runs, not capacity)\n", r.Ratio())
	} else {
		fmt.Fprintf(w, "ratio               %10.2f\n", r.Ratio())
	}
	if o.SSEClients > 0 {
		fmt.Fprintf(w, "with %d streams, one device each   %10.0f msg/s, ratio to none %.2f\n", o.SSEClients, r.StreamRate, r.StreamRate/r.StoredRate)
		fmt.Fprintf(w, "with %d streams, every reading     %10.0f msg/s, ratio to none %.2f\n", o.SSEClients, r.StreamAllRate, r.StreamAllRate/r.StoredRate)
	}
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

	// Raw: the same broker, a plain subscriber, no sensorhub behind it. The
	// subscriber must get every message, however far behind it falls.
	brokerURL := cfg.MQTT.Broker
	if brokerURL == "builtin" {
		b, err := gateway.StartBroker(&gateway.Forwarder{Metrics: metrics.New(), Log: o.Log},
			gateway.BrokerOptions{Listen: "127.0.0.1:0", MaxPendingWrites: max(cfg.MQTT.Builtin.MaxPendingWrites, 1<<20),
				MaxInflight: cfg.MQTT.Builtin.MaxInflight, MaxPacket: uint32(cfg.MQTT.Builtin.MaxPacket), AllowAnonymous: true}, o.Log)
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

	if o.Ingestors > 0 {
		res.StoredRate, res.Stored, err = endToEndSplit(ctx, o, cfg, payloads)
		return res, err
	}
	stored, n, err := endToEnd(ctx, o, cfg, "plain", payloads, 0)
	res.StoredRate, res.Stored = stored, n
	if err != nil || o.SSEClients == 0 {
		return res, err
	}
	if res.StreamRate, _, err = endToEnd(ctx, o, cfg, "stream", payloads, o.SSEClients); err != nil {
		return res, err
	}
	res.StreamAllRate, _, err = endToEnd(ctx, o, cfg, "streamall", payloads, -o.SSEClients)
	return res, err
}

// endToEnd starts sensorhub in a fresh data directory, with clients
// connected to the live stream, publishes the payloads and times them
// until stored. Positive clients each follow one device, as a dashboard
// does; negative ones each take every reading.
func endToEnd(ctx context.Context, o Options, base *config.Config, name string, payloads [][]byte, clients int) (float64, int64, error) {
	cfg := *base
	cfg.DataDir = filepath.Join(base.DataDir, name)
	cfg.Queue.Prefix = base.Queue.Prefix + "_" + name
	a, err := app.Start(ctx, &cfg, app.Options{}, o.Log)
	if err != nil {
		return 0, 0, err
	}
	defer dropStreams(&cfg)
	defer a.Close()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	var events atomic.Int64
	for i := 0; i < clients || i < -clients; i++ {
		url := "http://" + a.HTTPAddr() + "/api/v1/stream"
		if clients > 0 {
			url += fmt.Sprintf("?device=%d", 10000+i%o.Devices)
		}
		go streamClient(sctx, url, &events)
	}
	target := cfg.MQTT.Broker
	if target == "builtin" {
		target = "tcp://" + a.MQTTAddr()
	}
	pub, err := connect(target, "sensorhub-bench-pub")
	if err != nil {
		return 0, 0, err
	}
	defer pub.Disconnect(100)
	topic := cfg.Customers[0] + "/bench"
	start := time.Now()
	if err := publishAll(pub, topic, payloads, o.QoS, o.Rate, a.Forwarded); err != nil {
		return 0, 0, err
	}
	rate, n, err := waitStored(ctx, a.Store, len(payloads), start, a.Forwarded)
	if err == nil && clients != 0 {
		o.Log.Info("bench: stream clients", "clients", clients, "events", events.Load())
	}
	return rate, n, err
}

// waitStored waits until want readings are stored and returns the rate
// since start; it gives up when nothing more is stored for 30s.
func waitStored(ctx context.Context, st store.Store, want int, start time.Time, taken func() int64) (float64, int64, error) {
	lastProgress, last := time.Now(), int64(-1)
	for {
		n, err := storedCount(ctx, st)
		if err != nil {
			return 0, n, err
		}
		if n >= int64(want) {
			return float64(want) / time.Since(start).Seconds(), n, nil
		}
		if n != last {
			lastProgress, last = time.Now(), n
		}
		if time.Since(lastProgress) > 30*time.Second {
			return 0, n, fmt.Errorf("stalled: %d of %d stored, %d taken by the gateway (a broker that drops messages, such as Mosquitto past max_queued_messages, loses the rest)", n, want, taken())
		}
		if ctx.Err() != nil {
			return 0, n, ctx.Err()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// streamClient reads the live stream as a browser would, reconnecting
// when dropped, and counts the reading events.
func streamClient(ctx context.Context, url string, events *atomic.Int64) {
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if sc.Text() == "event: reading" {
				events.Add(1)
			}
		}
		resp.Body.Close()
	}
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
func publishAll(c paho.Client, topic string, payloads [][]byte, qos byte, rate int, taken func() int64) error {
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
	start := time.Now()
	for i, p := range payloads {
		if rate > 0 {
			if ahead := time.Duration(i)*time.Second/time.Duration(rate) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
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
	if err := publishAll(pub, topic, payloads, qos, 0, got.Load); err != nil {
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
	// One sum over the devices' rows, not a list of them: looking, 50
	// times a second, must take little from the run at 10,000 devices.
	fl, err := s.CountDevices(ctx, store.DeviceFilter{}, time.Time{})
	if err != nil {
		return 0, err
	}
	return fl.Expected - fl.Lost, nil
}
