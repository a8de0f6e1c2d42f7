// Package ingest consumes raw envelopes from the queue, decodes them into
// readings, writes them to the store in batches, publishes them to the
// readings stream, and only then acknowledges them. A message that cannot be
// decoded is stored as rejected, with its reason, and acknowledged: never
// lost, never retried forever. A message the store or the queue refuses
// while it takes the others is poison: it is found, set aside as rejected
// with the refusal, and everything else goes on.
package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sensorhub/sensorhub/internal/backoff"
	"github.com/sensorhub/sensorhub/internal/derive"
	"github.com/sensorhub/sensorhub/internal/health"
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
	Store     store.Writer
	Publisher queue.Publisher
	Metrics   *metrics.Metrics
	Log       *slog.Logger
	BatchSize int
	BatchWait time.Duration
	// Progress follows the batches: one held longer than its stall bound
	// (a store or queue that takes nothing) makes the stage not ready.
	Progress *health.Progress

	limiterOnce sync.Once
	limiter     *logx.Limiter
	// published is, per device, the newest reading time this process
	// put on the readings stream: a batch found already stored whose
	// readings are all at or before it was published here before (a
	// redelivery, or a device sending again) and is not published twice.
	published map[store.DeviceKey]time.Time
	// applied is what Apply gave; nil before: Decoder and Formulas.
	applied atomic.Pointer[compiled]
}

// compiled is a decoder and its formulas, applied together.
type compiled struct {
	dec      *reading.Decoder
	formulas map[string]derive.Set
}

// Apply makes dec and formulas those of the batches taken from now on,
// without a restart. A change reaches a batch at one step or the next:
// each reading is decoded once, and derived with one set of formulas.
func (in *Ingester) Apply(dec *reading.Decoder, formulas map[string]derive.Set) {
	in.applied.Store(&compiled{dec: dec, formulas: formulas})
}

func (in *Ingester) decoder() *reading.Decoder {
	if c := in.applied.Load(); c != nil {
		return c.dec
	}
	return in.Decoder
}

func (in *Ingester) formulas() map[string]derive.Set {
	if c := in.applied.Load(); c != nil {
		return c.formulas
	}
	return in.Formulas
}

func (in *Ingester) logLimited(ctx context.Context, key, msg string, args ...any) {
	in.limiterOnce.Do(func() { in.limiter = logx.NewLimiter(in.Log, 10*time.Second) })
	in.limiter.Log(ctx, slog.LevelWarn, key, msg, args...)
}

// Run consumes c until ctx is done. While one batch is written, the
// messages that come meanwhile are taken from the queue and decoded, and
// the batch before is published to the readings stream and acknowledged.
// Once free, the writer takes what waits (about BatchSize messages at
// most; lots.next says when): the faster messages come, the larger its
// batches, and the less each message costs. A batch in progress when ctx
// ends is not acknowledged, so the queue delivers it again to the next
// ingestor.
func (in *Ingester) Run(ctx context.Context, c queue.Consumer) error {
	if in.Progress == nil {
		in.Progress = &health.Progress{}
	}
	go in.watchLag(ctx, c)
	fctx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	l := newLots()
	fetched := make(chan struct{})
	go func() {
		defer close(fetched)
		in.fetch(fctx, c, l)
	}()
	written := make(chan *batch, 1)
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		in.deliverAll(ctx, written)
	}()
	var err error
	for {
		b := l.next(ctx, in.BatchSize, in.BatchWait)
		if b == nil {
			break
		}
		in.Progress.Begin()
		err = in.finish(ctx, b, in.handle)
		in.Progress.End(err == nil)
		if err != nil {
			break
		}
		written <- b
	}
	close(written)
	<-delivered
	stopFetch()
	<-fetched
	queue.GiveBack(ctx, l.deliveries(), 0)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// deliverAll publishes and acknowledges the written batches in order. Once
// one fails (the shutdown's drain time ran out), the rest go back to the
// queue.
func (in *Ingester) deliverAll(ctx context.Context, written <-chan *batch) {
	var failed bool
	for b := range written {
		if failed {
			queue.GiveBack(ctx, b.ds, 0)
			continue
		}
		in.Progress.Begin()
		err := in.finish(ctx, b, in.deliver)
		in.Progress.End(err == nil)
		failed = err != nil
	}
}

// batch is a batch of deliveries, their envelopes, what they decode to
// and, once written, the readings stored.
type batch struct {
	ds      []queue.Delivery
	envs    []reading.Envelope
	decoded store.Batch
	stored  []reading.Reading
	// seen is set when the store had every reading of the batch already.
	seen bool
}

// fetch takes deliveries from c, decodes them and adds them to l, until
// ctx ends. A delivery of the raw stream brings one message or a
// gateway's lot of them. Once about a batch waits, it fetches no more
// until the writer takes it.
func (in *Ingester) fetch(ctx context.Context, c queue.Consumer, l *lots) {
	// perDelivery is how many messages a delivery brought in the last
	// fetch, which the next one expects.
	perDelivery := float64(firstPerDelivery)
	full := false
	var started time.Time
	size := func() (int, time.Duration) {
		waiting := l.waitingMessages()
		full = waiting >= in.BatchSize
		started = time.Now()
		switch {
		case full:
			return 0, 0 // a batch waits already: no more
		case waiting > 0:
			// Messages wait already: take what else is there, at once.
			return min(max(1, int(float64(in.BatchSize-waiting)/perDelivery)), maxFetch), 0
		}
		return min(max(1, int(float64(in.BatchSize)/perDelivery)), maxFetch), in.BatchWait
	}
	queue.ConsumeSized(ctx, c, size, in.Log, func(ctx context.Context, ds []queue.Delivery) {
		if full {
			l.waitTaken(ctx)
			return
		}
		if len(ds) == 0 {
			l.quiet()
			return
		}
		ls := unpack(ds)
		n := in.decodeLots(ctx, ls)
		perDelivery = max(float64(n)/float64(len(ds)), 1)
		l.put(ls, n, started)
	})
	l.close()
}

// maxFetch bounds the deliveries of one fetch: lots of up to 256 KiB each
// where single messages were expected (a backlog of lots after a quiet
// spell) hold 32 MiB at most, and are stored well within the queue's
// acknowledgement deadline.
const maxFetch = 128

// firstPerDelivery is how many messages the first fetch expects a
// delivery to bring: a gateway's lots are small while messages come
// slowly, and large under a burst.
const firstPerDelivery = 16

// lots holds deliveries taken from the raw stream and decoded, in order,
// until the writer takes them: the fetcher puts, the writer takes.
type lots struct {
	mu      sync.Mutex
	waiting []lot
	// messages is how many envelopes wait.
	messages int
	closed   bool
	// since is when the first lot that waits was fetched.
	since time.Time
	// drained is set when a fetch found nothing more, since the last put.
	drained bool
	// put and taken wake the writer and the fetcher (one slot each).
	putc, takenc chan struct{}
}

type lot struct {
	d       queue.Delivery
	envs    []reading.Envelope
	decoded store.Batch
}

func newLots() *lots {
	return &lots{putc: make(chan struct{}, 1), takenc: make(chan struct{}, 1)}
}

// unpack reads the deliveries' envelopes.
func unpack(ds []queue.Delivery) []lot {
	ls := make([]lot, len(ds))
	for i, d := range ds {
		envs, err := reading.UnmarshalEnvelopes(d.Data())
		if err != nil {
			// Not written by a sensorhub gateway: keep the bytes as they are.
			envs = []reading.Envelope{{Topic: d.Subject(), Payload: d.Data(), Received: time.Now(), Source: "queue"}}
		}
		ls[i] = lot{d: d, envs: envs}
	}
	return ls
}

// decodeLots decodes the lots' envelopes, the lots shared among the cores
// when they are many (a lot is decoded by one), and returns how many
// envelopes they hold. It runs while the writer stores the batch before.
func (in *Ingester) decodeLots(ctx context.Context, ls []lot) int {
	n := 0
	for i := range ls {
		n += len(ls[i].envs)
	}
	parts := min(runtime.GOMAXPROCS(0), n/64, len(ls))
	if parts < 2 || in.decoder().Sequential() {
		for i := range ls {
			ls[i].decoded = in.Decode(ctx, ls[i].envs)
		}
		return n
	}
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := p*len(ls)/parts, (p+1)*len(ls)/parts
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				ls[i].decoded = in.Decode(ctx, ls[i].envs)
			}
		})
	}
	wg.Wait()
	return n
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// put adds decoded lots of n envelopes in all, fetched from the queue
// since fetched.
func (l *lots) put(ls []lot, n int, fetched time.Time) {
	l.mu.Lock()
	if len(l.waiting) == 0 {
		l.since = fetched
	}
	l.waiting = append(l.waiting, ls...)
	l.messages += n
	l.drained = false
	l.mu.Unlock()
	signal(l.putc)
}

// quiet tells the writer that a fetch found nothing more to come.
func (l *lots) quiet() {
	l.mu.Lock()
	l.drained = true
	l.mu.Unlock()
	signal(l.putc)
}

// close tells the writer that nothing more comes.
func (l *lots) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	signal(l.putc)
}

func (l *lots) waitingMessages() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.messages
}

// waitTaken waits until the writer takes lots, or ctx ends.
func (l *lots) waitTaken(ctx context.Context) {
	select {
	case <-l.takenc:
	case <-ctx.Done():
	}
}

// next waits for lots and takes the first, up to the one that brings the
// batch to limit messages or more, once there are so many, the queue has
// no more for now, or the first was fetched linger ago; nil once ctx
// ended or nothing more comes. While messages come steadily, a batch
// gathers them for up to linger rather than taking the few there are:
// fewer, larger transactions.
func (l *lots) next(ctx context.Context, limit int, linger time.Duration) *batch {
	var timer <-chan time.Time
	for ctx.Err() == nil {
		l.mu.Lock()
		messages, since, closed, drained := l.messages, l.since, l.closed, l.drained
		l.mu.Unlock()
		if messages > 0 && timer == nil {
			timer = time.After(linger - time.Since(since))
		}
		if messages >= limit || closed || messages > 0 && drained {
			return l.take(limit)
		}
		select {
		case <-l.putc:
		case <-timer:
			return l.take(limit)
		case <-ctx.Done():
		}
	}
	return nil
}

// take takes the first lots that wait, up to the one that brings the
// batch to limit messages or more; nil when none wait.
func (l *lots) take(limit int) *batch {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.waiting) == 0 {
		return nil
	}
	// The lots taken, and the batch made at its size.
	n, envs, readings := 0, 0, 0
	for ; n < len(l.waiting) && (n == 0 || envs < limit); n++ {
		envs, readings = envs+len(l.waiting[n].envs), readings+len(l.waiting[n].decoded.Readings)
	}
	b := &batch{ds: make([]queue.Delivery, 0, n), envs: make([]reading.Envelope, 0, envs)}
	b.decoded.Readings = make([]reading.Reading, 0, readings)
	for k := range n {
		w := &l.waiting[k]
		b.ds = append(b.ds, w.d)
		b.envs = append(b.envs, w.envs...)
		b.decoded.Readings = append(b.decoded.Readings, w.decoded.Readings...)
		b.decoded.Rejected = append(b.decoded.Rejected, w.decoded.Rejected...)
		b.decoded.Resolved = append(b.decoded.Resolved, w.decoded.Resolved...)
	}
	l.waiting = slices.Delete(l.waiting, 0, n)
	l.messages -= len(b.envs)
	signal(l.takenc)
	return b
}

// deliveries are those that wait.
func (l *lots) deliveries() []queue.Delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]queue.Delivery, len(l.waiting))
	for i, w := range l.waiting {
		out[i] = w.d
	}
	return out
}

// drainTime is how long a batch taken before a shutdown may go on storing.
const drainTime = 10 * time.Second

// finish runs one step on a batch even when a shutdown begins meanwhile,
// for up to drainTime; a batch it could not finish is handed back to the
// queue at once, for another ingestor, instead of waiting for the ack
// deadline.
func (in *Ingester) finish(ctx context.Context, b *batch, step func(context.Context, *batch) error) error {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(drainTime, cancel) })
	defer stop()
	err := step(bctx, b)
	if err != nil && ctx.Err() != nil {
		in.Log.Warn("ingest: shutting down before a batch was done; it goes back to the queue", "messages", len(b.envs), "err", err)
		queue.GiveBack(ctx, b.ds, 0)
	}
	return err
}

// handle stores one batch. It retries the store while it is away:
// back-pressure, not loss.
func (in *Ingester) handle(ctx context.Context, b *batch) error {
	decoded := &b.decoded
	return in.retry(ctx, "write to store", func() error {
		var err error
		b.stored, b.seen, err = in.write(ctx, b.envs, decoded)
		decoded = nil // a batch tried again is decoded again
		return err
	})
}

// deliver publishes a written batch's readings and acknowledges its
// messages, retrying the queue while it is away.
func (in *Ingester) deliver(ctx context.Context, b *batch) error {
	if !b.seen || !in.publishedBefore(b.stored) {
		if err := in.publish(ctx, b.stored); err != nil {
			return err
		}
		in.notePublished(b.stored)
	}
	for _, d := range b.ds {
		if err := d.Ack(ctx); err != nil {
			// The message comes again and is found already stored.
			in.Log.Warn("ingest: ack failed; the message will be redelivered and stored once", "err", err)
		}
	}
	in.Metrics.BatchSize.Observe(float64(len(b.envs)))
	return nil
}

// Ingest decodes, derives and stores envelopes as ingest does, outside
// the queue and in one batch (a demo's history), and returns how many
// readings it stored.
func (in *Ingester) Ingest(ctx context.Context, envs []reading.Envelope) (int, error) {
	b, err := in.prepare(ctx, envs, nil)
	if err != nil {
		return 0, err
	}
	res, err := in.commit(ctx, b)
	return res.Stored, err
}

// Decode turns envelopes into a batch of readings and rejected messages.
func (in *Ingester) Decode(ctx context.Context, envs []reading.Envelope) store.Batch {
	b := store.Batch{Readings: make([]reading.Reading, 0, len(envs))} // a message is a reading, mostly
	for _, env := range envs {
		rs, err := in.decoder().DecodeAll(env)
		if err != nil {
			var rj *reading.RejectError
			customer := ""
			if errors.As(err, &rj) {
				customer = rj.Customer
			}
			b.Rejected = append(b.Rejected, rejected(env, err.Error(), customer))
			in.logLimited(ctx, "reject:"+env.Topic, "message rejected",
				"topic", env.Topic, "source", env.Source, "reason", err.Error())
			continue
		}
		if env.ReplayOf > 0 {
			b.Resolved = append(b.Resolved, env.ReplayOf)
		}
		for _, r := range rs {
			if len(r.Flags) > 0 {
				in.logLimited(ctx, "flags:"+r.Customer+"/"+r.Sensor+"/"+r.Device,
					"reading stored with problems", "customer", r.Customer, "sensor", r.Sensor, "device", r.Device,
					"flags", strings.Join(r.Flags, ","))
			}
		}
		b.Readings = append(b.Readings, rs...)
	}
	return b
}

// rejected keeps env with its reason under customer, and the sender's
// binding, so that a replay holds it to the same customer. Its topic and
// reason are made text every store keeps (valid UTF-8 without NUL): the
// payload, kept as bytes, is what was received.
func rejected(env reading.Envelope, reason, customer string) reading.Rejected {
	return reading.Rejected{
		Topic: storable(env.Topic), Payload: env.Payload, Reason: storable(reason),
		Received: env.Received.UTC(), Source: storable(env.Source), Customer: storable(customer), Binding: env.Customer,
	}
}

func storable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// prepare decodes envelopes (unless decoded already) and derives the
// readings' fields: the batch to write. The store it reads from being away
// is an outage.
func (in *Ingester) prepare(ctx context.Context, envs []reading.Envelope, decoded *store.Batch) (store.Batch, error) {
	var b store.Batch
	if decoded != nil {
		b = *decoded
	} else {
		b = in.Decode(ctx, envs)
	}
	if err := in.chooseRepeatedHour(ctx, b.Readings); err != nil {
		return b, store.Unavailable(fmt.Errorf("read previous readings: %w", err))
	}
	if err := in.Derive(ctx, &b); err != nil {
		return b, store.Unavailable(fmt.Errorf("read previous readings: %w", err))
	}
	return b, nil
}

// write stores the envelopes in one transaction and returns the readings
// stored, and whether the store had every one of them already. When the store refuses the batch for a reason that is not an
// outage, it finds the messages the store refuses alone and sets them
// aside as rejected, with the refusal, and stores the others.
func (in *Ingester) write(ctx context.Context, envs []reading.Envelope, decoded *store.Batch) ([]reading.Reading, bool, error) {
	b, err := in.prepare(ctx, envs, decoded)
	if err != nil {
		return nil, false, err
	}
	res, err := in.commit(ctx, b)
	if err == nil {
		return b.Readings, res.Stored == 0 && res.Duplicates > 0, nil
	}
	if store.IsUnavailable(err) || ctx.Err() != nil {
		return nil, false, err
	}
	if perr := in.Store.Ping(ctx); perr != nil {
		return nil, false, store.Unavailable(perr)
	}
	in.Log.Warn("ingest: the store refused a batch; looking for the messages it refuses", "messages", len(envs), "err", err)
	stored, poison, err := in.isolate(ctx, envs, err)
	if err != nil {
		return nil, false, err
	}
	if len(poison) == len(envs) && len(envs) > 1 {
		// Refusing every message is not about any of them.
		return nil, false, store.Unavailable(fmt.Errorf("the store refuses every message of the batch: %w", poison[0].err))
	}
	for _, p := range poison {
		if err := in.setAside(ctx, p.env, p.err); err != nil {
			return nil, false, err
		}
	}
	return stored, false, nil
}

// publishedBefore tells whether this process put every one of rs on the
// readings stream already: each is at or before its device's newest
// reading published.
func (in *Ingester) publishedBefore(rs []reading.Reading) bool {
	for i := range rs {
		t, ok := in.published[keyOf(&rs[i])]
		if !ok || rs[i].Time.After(t) {
			return false
		}
	}
	return true
}

func (in *Ingester) notePublished(rs []reading.Reading) {
	if in.published == nil {
		in.published = map[store.DeviceKey]time.Time{}
	}
	for i := range rs {
		k := keyOf(&rs[i])
		if t, ok := in.published[k]; !ok || rs[i].Time.After(t) {
			in.published[k] = rs[i].Time
		}
	}
}

type poisoned struct {
	env reading.Envelope
	err error
}

// isolate writes envs in halves, and a half the store refuses in halves
// again, down to single messages; a message refused alone, twice, is
// poison. It returns the readings stored and the poison.
func (in *Ingester) isolate(ctx context.Context, envs []reading.Envelope, cause error) ([]reading.Reading, []poisoned, error) {
	if len(envs) == 1 {
		// Once more, alone: a refusal that holds is about this message.
		b, err := in.prepare(ctx, envs, nil)
		if err != nil {
			return nil, nil, err
		}
		if _, err = in.commit(ctx, b); err == nil {
			return b.Readings, nil, nil
		}
		if store.IsUnavailable(err) || ctx.Err() != nil {
			return nil, nil, err
		}
		return nil, []poisoned{{envs[0], err}}, nil
	}
	var stored []reading.Reading
	var poison []poisoned
	half := len(envs) / 2
	for _, part := range [][]reading.Envelope{envs[:half], envs[half:]} {
		b, err := in.prepare(ctx, part, nil)
		if err != nil {
			return nil, nil, err
		}
		if _, err = in.commit(ctx, b); err == nil {
			stored = append(stored, b.Readings...)
			continue
		}
		if store.IsUnavailable(err) || ctx.Err() != nil {
			return nil, nil, err
		}
		s, p, err := in.isolate(ctx, part, err)
		if err != nil {
			return nil, nil, err
		}
		stored, poison = append(stored, s...), append(poison, p...)
	}
	return stored, poison, nil
}

// setAside keeps a message the store refused as rejected, with the
// refusal, under the customer it names.
func (in *Ingester) setAside(ctx context.Context, env reading.Envelope, cause error) error {
	customer := env.Customer
	if r, err := in.decoder().Decode(env); err == nil {
		customer = r.Customer
	}
	rj := rejected(env, "the store refused this message: "+cause.Error(), customer)
	in.Log.Error("ingest: a message the store refuses is set aside as rejected; the others are stored",
		"topic", rj.Topic, "source", env.Source, "customer", customer, "err", cause)
	in.Metrics.Poison.WithLabelValues("ingest").Inc()
	// A replayed message is the same rejected message: it stays, with the
	// new reason.
	_, err := in.commit(ctx, store.Batch{Rejected: []reading.Rejected{rj}})
	return err
}

// commit writes a batch and counts what it did.
func (in *Ingester) commit(ctx context.Context, b store.Batch) (store.WriteResult, error) {
	start := time.Now()
	res, err := in.Store.Write(ctx, b)
	in.Metrics.StoreWrite.Observe(time.Since(start).Seconds())
	if err != nil {
		return res, err
	}
	in.Metrics.Stored.Add(float64(res.Stored))
	if res.Stored > 0 {
		in.Metrics.LastStored.SetToCurrentTime()
	}
	in.Metrics.Duplicates.Add(float64(res.Duplicates))
	for _, rj := range b.Rejected {
		in.Metrics.Rejected.WithLabelValues(reasonClass(rj.Reason)).Inc()
	}
	return res, nil
}

// chooseRepeatedHour sets the time of each reading whose zone-less Time
// falls in the hour repeated when clocks go back: the second instant when
// the device had already passed the first one (its newest reading before
// the second instant is not older than the first, and was sent before
// this one, by msgCount or else by receive order), the first otherwise.
// So the repeated hour is read in the order the device sent it.
func (in *Ingester) chooseRepeatedHour(ctx context.Context, rs []reading.Reading) error {
	var qs []store.NeighbourQuery
	var idx []int
	for i := range rs {
		if r := &rs[i]; !r.TimeLater.IsZero() {
			qs = append(qs, store.NeighbourQuery{DeviceKey: keyOf(r), Time: r.TimeLater, Seq: math.MinInt64})
			idx = append(idx, i)
		}
	}
	if len(qs) == 0 {
		return nil
	}
	stored, err := in.Store.Neighbours(ctx, qs)
	if err != nil {
		return err
	}
	for n, i := range idx {
		r := &rs[i]
		prev := stored[n].Before
		// The batch's readings before this one, in receive order, already
		// have their time.
		for j := range i {
			o := &rs[j]
			if keyOf(o) == keyOf(r) && o.Time.Before(r.TimeLater) && (prev == nil || o.Time.After(prev.Time)) {
				prev = o
			}
		}
		if prev != nil && !prev.Time.Before(r.Time) && sentBefore(prev, r) {
			r.Time = r.TimeLater
		}
		r.TimeLater = time.Time{}
	}
	return nil
}

func sentBefore(a, b *reading.Reading) bool {
	if a.MsgCount >= 0 && b.MsgCount >= 0 {
		return a.MsgCount < b.MsgCount
	}
	return a.Received.Before(b.Received)
}

func keyOf(r *reading.Reading) store.DeviceKey {
	return store.DeviceKey{Customer: r.Customer, Sensor: r.Sensor, Device: r.Device}
}

// position orders a device's readings: by time, then Seq (msgCount).
func position(a, b *reading.Reading) int {
	return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Seq(), b.Seq()))
}

// Derive adds the derived fields to the batch's readings. Each is computed
// from the device's reading just before it (by time, then msgCount), from
// this batch or from the store, so that a restart, a second ingestor or a
// late reading gives the same values. When a reading arrives after its
// successor was stored, the successor is derived again from it
// (b.Rederived), so that the stored values end as if all had come in
// order.
func (in *Ingester) Derive(ctx context.Context, b *store.Batch) error {
	b.Rederived = nil
	rs := b.Readings
	formulas := in.formulas()
	if len(formulas) == 0 {
		return nil
	}
	// In order per device, so that a reading's predecessor in the batch is
	// derived before it.
	idx := make([]int, 0, len(rs))
	for i := range rs {
		if formulas[rs[i].Sensor] != nil {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		ra, rb := &rs[a], &rs[b]
		return cmp.Or(cmp.Compare(ra.Customer, rb.Customer), cmp.Compare(ra.Sensor, rb.Sensor), cmp.Compare(ra.Device, rb.Device),
			position(ra, rb))
	})
	qs := make([]store.NeighbourQuery, len(idx))
	for n, i := range idx {
		qs[n] = store.NeighbourQuery{DeviceKey: keyOf(&rs[i]), Time: rs[i].Time, Seq: rs[i].Seq()}
	}
	stored, err := in.Store.Neighbours(ctx, qs)
	if err != nil {
		return err
	}
	// before is the newest reading of the batch, of the same device,
	// before the one being derived (a duplicate has the same position).
	var before, last *reading.Reading
	for n, i := range idx {
		r := &rs[i]
		if last == nil || keyOf(last) != keyOf(r) {
			before = nil
		} else if position(last, r) < 0 {
			before = last
		}
		last = r
		var prev *derive.Prev
		if before != nil {
			prev = &derive.Prev{Time: before.Time, MsgCount: before.MsgCount, Fields: before.Fields}
		}
		if sb := stored[n].Before; sb != nil && (before == nil || position(sb, before) > 0) {
			prev = &derive.Prev{Time: sb.Time, MsgCount: sb.MsgCount, Fields: sb.Fields}
		}
		set := formulas[r.Sensor]
		set.Clear(r) // a retried batch starts again from the decoded fields
		set.Apply(r, prev)
		next := stored[n].After
		if next != nil && n+1 < len(idx) {
			if nx := &rs[idx[n+1]]; keyOf(nx) == keyOf(r) && position(nx, next) < 0 {
				next = nil // the batch's next reading comes first: it is the successor
			}
		}
		if next != nil {
			// A copy: the store may hand the same reading to others.
			nr := *next
			nr.Fields, nr.Flags = maps.Clone(next.Fields), slices.Clone(next.Flags)
			was := next.Fields
			set.Clear(&nr)
			set.Apply(&nr, &derive.Prev{Time: r.Time, MsgCount: r.MsgCount, Fields: r.Fields})
			if !maps.Equal(was, nr.Fields) {
				b.Rederived = append(b.Rederived, nr)
			}
		}
	}
	return nil
}

// publish puts the stored readings on the readings stream, retrying while
// the queue is away: a few messages a batch, each of many readings. A
// reading the queue refuses for what it is (larger than it takes) stays
// stored: it is left off the stream, which only feeds alerts and live
// pages, and logged.
func (in *Ingester) publish(ctx context.Context, rs []reading.Reading) error {
	if len(rs) == 0 || in.Publisher == nil {
		return nil
	}
	var msgs []queue.Message
	var key []byte
	start, size := 0, 0
	// flush puts rs[start:end] in one message.
	flush := func(end int) {
		part := rs[start:end]
		start, size = end, 0
		if len(part) == 0 {
			return
		}
		data, err := reading.MarshalReadings(part)
		if err != nil {
			in.Log.Error("ingest: stored readings cannot be encoded for the readings stream", "err", err)
			return
		}
		// The readings' identities as message ID let the queue drop
		// the copy that a redelivered batch would publish again.
		h := fnv.New64a()
		for i := range part {
			key = part[i].AppendKey(key[:0])
			h.Write(key)
		}
		msgs = append(msgs, queue.Message{Stream: queue.Readings, Subject: part[0].Subject(), ID: strconv.FormatUint(h.Sum64(), 16), Data: data})
	}
	for i := range rs {
		n := 200 + 40*len(rs[i].Fields)
		if size+n > reading.StreamBytes {
			flush(i)
		}
		size += n
	}
	flush(len(rs))
	return in.retry(ctx, "publish readings", func() error {
		err := in.Publisher.Publish(ctx, msgs...)
		if !errors.Is(err, queue.ErrRefused) {
			return err
		}
		for _, m := range msgs {
			err := in.Publisher.Publish(ctx, m)
			if errors.Is(err, queue.ErrRefused) {
				in.Log.Error("ingest: the queue refuses a message of stored readings; they are left off the readings stream", "bytes", len(m.Data), "err", err)
				in.Metrics.Poison.WithLabelValues("ingest").Inc()
				continue
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// retry calls f until it succeeds or ctx ends, with the one backoff,
// logging each failure and telling the stage's progress why it waits.
func (in *Ingester) retry(ctx context.Context, what string, f func() error) error {
	return backoff.Default.Retry(ctx, f, func(err error, attempt int) {
		if in.Progress != nil {
			in.Progress.Failed(fmt.Errorf("%s: %w", what, err))
		}
		in.Log.Error("ingest: "+what+" failed, retrying; nothing is acknowledged until it succeeds", "err", err, "attempt", attempt)
	}, nil)
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
				in.Progress.Waiting(n)
			}
		}
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
		b, err := in.prepare(ctx, envs, nil)
		envs = envs[:0]
		if err != nil {
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
		wr, err := in.commit(ctx, b)
		if err != nil {
			return err
		}
		res.Stored += wr.Stored
		res.Duplicates += wr.Duplicates
		res.Rejected += len(b.Rejected)
		return nil
	}
	err := rd.Read(ctx, queue.Raw, from, to, func(data []byte) error {
		got, err := reading.UnmarshalEnvelopes(data)
		if err != nil {
			return nil // not an envelope: nothing to decode again
		}
		res.Messages += len(got)
		envs = append(envs, got...)
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
