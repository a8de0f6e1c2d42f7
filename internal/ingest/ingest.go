// Package ingest consumes raw envelopes from the queue, decodes them into
// readings, writes them to the store in batches, publishes them to the
// readings stream, and only then acknowledges them. A message that cannot be
// decoded is stored as rejected, with its reason, and acknowledged: never
// lost, never retried forever.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sensorhub/sensorhub/internal/derive"
	"github.com/sensorhub/sensorhub/internal/logx"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// Group is the durable consumer group that ingest processes share.
const Group = "ingest"

// Ingester runs the ingest stage.
type Ingester struct {
	Decoder *reading.Decoder
	// Formulas are the derived fields per sensor kind.
	Formulas  map[string]derive.Set
	Store     store.Store
	Publisher queue.Publisher
	Metrics   *metrics.Metrics
	Log       *slog.Logger
	BatchSize int
	BatchWait time.Duration

	limiterOnce sync.Once
	limiter     *logx.Limiter
}

func (in *Ingester) logLimited(ctx context.Context, key, msg string, args ...any) {
	in.limiterOnce.Do(func() { in.limiter = logx.NewLimiter(in.Log, 10*time.Second) })
	in.limiter.Log(ctx, slog.LevelWarn, key, msg, args...)
}

// Run consumes c until ctx is done. A batch in progress when ctx ends is
// not acknowledged, so the queue delivers it again to the next ingestor.
func (in *Ingester) Run(ctx context.Context, c queue.Consumer) error {
	go in.watchLag(ctx, c)
	var failures int
	for ctx.Err() == nil {
		ds, err := c.Fetch(ctx, in.BatchSize, in.BatchWait)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			in.Log.Warn("ingest: fetch from queue failed, retrying", "err", err, "attempt", failures)
			sleep(ctx, backoff(failures))
			continue
		}
		failures = 0
		if len(ds) == 0 {
			continue
		}
		if err := in.finish(ctx, ds); err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
	}
	return nil
}

// drainTime is how long a batch taken before a shutdown may go on storing.
const drainTime = 10 * time.Second

// finish handles a batch even when a shutdown begins meanwhile, for up to
// drainTime; a batch it could not store is handed back to the queue at
// once, for another ingestor, instead of waiting for the ack deadline.
func (in *Ingester) finish(ctx context.Context, ds []queue.Delivery) error {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(drainTime, cancel) })
	defer stop()
	err := in.handle(bctx, ds)
	if err != nil && ctx.Err() != nil {
		in.Log.Warn("ingest: shutting down before a batch was stored; it goes back to the queue", "messages", len(ds), "err", err)
		nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		for _, d := range ds {
			d.Nak(nctx, 0)
		}
	}
	return err
}

// handle decodes, stores, publishes and acks one batch. It retries the
// store and the queue until they accept or ctx ends: back-pressure, not loss.
func (in *Ingester) handle(ctx context.Context, ds []queue.Delivery) error {
	envs := make([]reading.Envelope, len(ds))
	for i, d := range ds {
		env, err := reading.UnmarshalEnvelope(d.Data())
		if err != nil {
			// Not written by a sensorhub gateway: keep the bytes as they are.
			env = reading.Envelope{Topic: d.Subject(), Payload: d.Data(), Received: time.Now(), Source: "queue"}
		}
		envs[i] = env
	}
	batch := in.Decode(ctx, envs)
	if err := retry(ctx, in.Log, "read previous readings", func() error { return in.Derive(ctx, &batch) }); err != nil {
		return err
	}
	if err := in.Commit(ctx, batch); err != nil {
		return err
	}
	for _, d := range ds {
		if err := d.Ack(ctx); err != nil {
			// The message comes again and is found already stored.
			in.Log.Warn("ingest: ack failed; the message will be redelivered and stored once", "err", err)
		}
	}
	in.Metrics.BatchSize.Observe(float64(len(ds)))
	return nil
}

// Decode turns envelopes into a batch of readings and rejected messages.
func (in *Ingester) Decode(ctx context.Context, envs []reading.Envelope) store.Batch {
	var b store.Batch
	for _, env := range envs {
		r, err := in.Decoder.Decode(env)
		if err != nil {
			var rj *reading.RejectError
			reason := err.Error()
			customer := ""
			if errors.As(err, &rj) {
				customer = rj.Customer
			}
			b.Rejected = append(b.Rejected, reading.Rejected{
				Topic: env.Topic, Payload: env.Payload, Reason: reason,
				Received: env.Received.UTC(), Source: env.Source, Customer: customer,
			})
			in.logLimited(ctx, "reject:"+env.Topic, "message rejected",
				"topic", env.Topic, "source", env.Source, "reason", reason)
			continue
		}
		if env.ReplayOf > 0 {
			b.Resolved = append(b.Resolved, env.ReplayOf)
		}
		if len(r.Flags) > 0 {
			in.logLimited(ctx, "flags:"+r.Customer+"/"+r.Sensor+"/"+r.Device,
				"reading stored with problems", "customer", r.Customer, "sensor", r.Sensor, "device", r.Device,
				"flags", strings.Join(r.Flags, ","))
		}
		b.Readings = append(b.Readings, r)
	}
	return b
}

// Derive adds the derived fields to the batch's readings. Each is computed
// from the device's reading just before it in time, from this batch or
// from the store, so that a restart, a second ingestor or a late reading
// gives the same values. When a reading arrives after its successor was
// stored, the successor is derived again from it (b.Rederived), so that
// the stored values end as if all had come in order.
func (in *Ingester) Derive(ctx context.Context, b *store.Batch) error {
	b.Rederived = nil
	rs := b.Readings
	if len(in.Formulas) == 0 {
		return nil
	}
	// In time order per device, so that a reading's predecessor in the
	// batch is derived before it.
	idx := make([]int, 0, len(rs))
	for i := range rs {
		if in.Formulas[rs[i].Sensor] != nil {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ra, rb := &rs[idx[a]], &rs[idx[b]]
		if ka, kb := ra.Customer+"/"+ra.Sensor+"/"+ra.Device, rb.Customer+"/"+rb.Sensor+"/"+rb.Device; ka != kb {
			return ka < kb
		}
		return ra.Time.Before(rb.Time)
	})
	stored, err := in.neighbours(ctx, rs, idx)
	if err != nil {
		return err
	}
	// before is the newest reading of the batch, of the same device, older
	// than the one being derived (a duplicate has the same time).
	var before, last *reading.Reading
	for n, i := range idx {
		r := &rs[i]
		if last == nil || last.Customer != r.Customer || last.Sensor != r.Sensor || last.Device != r.Device {
			before = nil
		} else if last.Time.Before(r.Time) {
			before = last
		}
		last = r
		var prev *derive.Prev
		if before != nil {
			prev = &derive.Prev{Time: before.Time, MsgCount: before.MsgCount, Fields: before.Fields}
		}
		if sb := stored[n].Before; sb != nil && (prev == nil || sb.Time.After(prev.Time)) {
			prev = &derive.Prev{Time: sb.Time, MsgCount: sb.MsgCount, Fields: sb.Fields}
		}
		set := in.Formulas[r.Sensor]
		set.Clear(r) // a retried batch starts again from the decoded fields
		set.Apply(r, prev)
		var next reading.Reading
		ok := stored[n].After != nil
		if ok {
			next = *stored[n].After
		}
		if ok && n+1 < len(idx) {
			if nx := &rs[idx[n+1]]; nx.Customer == r.Customer && nx.Sensor == r.Sensor && nx.Device == r.Device && nx.Time.Before(next.Time) {
				ok = false // the batch's next reading comes first: it is the successor
			}
		}
		if ok {
			before := maps.Clone(next.Fields)
			set.Clear(&next)
			set.Apply(&next, &derive.Prev{Time: r.Time, MsgCount: r.MsgCount, Fields: r.Fields})
			if !maps.Equal(before, next.Fields) {
				b.Rederived = append(b.Rederived, next)
			}
		}
	}
	return nil
}

// neighbours finds the stored readings around each of rs[idx], in one
// round trip when the store can.
func (in *Ingester) neighbours(ctx context.Context, rs []reading.Reading, idx []int) ([]store.Neighbours, error) {
	qs := make([]store.NeighbourQuery, len(idx))
	for n, i := range idx {
		r := &rs[i]
		qs[n] = store.NeighbourQuery{DeviceKey: store.DeviceKey{Customer: r.Customer, Sensor: r.Sensor, Device: r.Device}, Time: r.Time}
	}
	if nr, ok := in.Store.(store.NeighbourReader); ok {
		return nr.Neighbours(ctx, qs)
	}
	out := make([]store.Neighbours, len(qs))
	for n, q := range qs {
		before, ok, err := in.Store.ReadingBefore(ctx, q.DeviceKey, q.Time)
		if err != nil {
			return nil, err
		}
		if ok {
			out[n].Before = &before
		}
		after, ok, err := in.Store.ReadingAfter(ctx, q.DeviceKey, q.Time)
		if err != nil {
			return nil, err
		}
		if ok {
			out[n].After = &after
		}
	}
	return out, nil
}

// Commit writes the batch to the store, then publishes its readings to the
// readings stream, retrying each until it succeeds or ctx ends.
func (in *Ingester) Commit(ctx context.Context, b store.Batch) error {
	var res store.WriteResult
	err := retry(ctx, in.Log, "write to store", func() error {
		start := time.Now()
		var err error
		res, err = in.Store.Write(ctx, b)
		in.Metrics.StoreWrite.Observe(time.Since(start).Seconds())
		return err
	})
	if err != nil {
		return err
	}
	in.Metrics.Stored.Add(float64(res.Stored))
	in.Metrics.Duplicates.Add(float64(res.Duplicates))
	for _, rj := range b.Rejected {
		in.Metrics.Rejected.WithLabelValues(reasonClass(rj.Reason)).Inc()
	}
	if len(b.Readings) == 0 || in.Publisher == nil {
		return nil
	}
	msgs := make([]queue.Message, 0, len(b.Readings))
	for i := range b.Readings {
		r := &b.Readings[i]
		data, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("ingest: encode reading %s: %w", r.Key(), err)
		}
		// The reading's identity as message ID lets the queue drop the copy
		// that a redelivered raw message would publish again.
		msgs = append(msgs, queue.Message{Stream: queue.Readings, Subject: r.Subject(), ID: r.Key(), Data: data})
	}
	return retry(ctx, in.Log, "publish readings", func() error { return in.Publisher.Publish(ctx, msgs...) })
}

// reasonClass is the first words of a reason, before any detail, so the
// metric's label set stays small.
func reasonClass(reason string) string {
	if i := strings.IndexAny(reason, ":\"0123456789"); i > 0 {
		reason = reason[:i]
	}
	return strings.TrimSpace(reason)
}

func (in *Ingester) watchLag(ctx context.Context, c queue.Consumer) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := c.Pending(ctx); err == nil {
				in.Metrics.QueueLag.Set(float64(n))
			}
		}
	}
}

// retry calls f until it succeeds or ctx ends, with bounded exponential
// backoff, logging each failure.
func retry(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Error("ingest: "+what+" failed, retrying; nothing is acknowledged until it succeeds", "err", err, "attempt", attempt)
		sleep(ctx, backoff(attempt))
	}
}

func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt, 6)
	return min(d, 5*time.Second)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// ReplayResult says what a replay of the raw stream did.
type ReplayResult struct {
	Messages   int `json:"messages"`
	Stored     int `json:"stored"`
	Duplicates int `json:"duplicates"`
	Rejected   int `json:"rejected"`
}

// Replay decodes again the raw messages received in [from, to), with the
// current configuration, and writes them to the store: readings already
// stored are counted as duplicates, never stored twice. They are history,
// so they are not sent to the readings stream (live pages, alerts). With
// sensor set, only that sensor kind's readings are written.
func (in *Ingester) Replay(ctx context.Context, rd queue.Reader, from, to time.Time, sensor string) (ReplayResult, error) {
	var res ReplayResult
	var envs []reading.Envelope
	flush := func() error {
		b := in.Decode(ctx, envs)
		envs = envs[:0]
		if err := in.Derive(ctx, &b); err != nil {
			return err
		}
		if sensor != "" {
			kept := b.Readings[:0]
			for _, r := range b.Readings {
				if r.Sensor == sensor {
					kept = append(kept, r)
				}
			}
			b.Readings, b.Rejected = kept, nil
		}
		wr, err := in.Store.Write(ctx, b)
		if err != nil {
			return err
		}
		res.Stored += wr.Stored
		res.Duplicates += wr.Duplicates
		res.Rejected += len(b.Rejected)
		return nil
	}
	err := rd.Read(ctx, queue.Raw, from, to, func(data []byte) error {
		env, err := reading.UnmarshalEnvelope(data)
		if err != nil {
			return nil // not an envelope: nothing to decode again
		}
		res.Messages++
		envs = append(envs, env)
		if len(envs) >= in.BatchSize {
			return flush()
		}
		return nil
	})
	if err == nil && len(envs) > 0 {
		err = flush()
	}
	return res, err
}
