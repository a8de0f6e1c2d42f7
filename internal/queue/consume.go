package queue

import (
	"context"
	"log/slog"
	"time"

	"github.com/sensorhub/sensorhub/internal/backoff"
	"github.com/sensorhub/sensorhub/internal/reading"
)

// Consume is the one consume loop of the stages: it fetches batches of
// up to max deliveries from c, waiting at most wait for each, and hands
// each batch to handle, until ctx ends. A fetch that fails is logged and
// tried again after the one backoff. An empty fetch is handed on too, for
// the stages that act on time as well as on messages. handle acknowledges
// (or gives back) the deliveries it is given.
func Consume(ctx context.Context, c Consumer, max int, wait time.Duration, log *slog.Logger, handle func(ctx context.Context, ds []Delivery)) {
	ConsumeSized(ctx, c, func() (int, time.Duration) { return max, wait }, log, handle)
}

// ConsumeSized is Consume with a batch size and a wait that size tells
// before each fetch; a size under 1 hands handle an empty batch without
// fetching (the stage holds enough already).
func ConsumeSized(ctx context.Context, c Consumer, size func() (int, time.Duration), log *slog.Logger, handle func(ctx context.Context, ds []Delivery)) {
	var failures int
	for ctx.Err() == nil {
		n, wait := size()
		if n < 1 {
			handle(ctx, nil) // nothing to fetch now: the stage has work
			continue
		}
		ds, err := c.Fetch(ctx, n, wait)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			log.Warn("fetch from the queue failed, retrying", "err", err, "attempt", failures)
			backoff.Sleep(ctx, backoff.Default.Delay(failures))
			continue
		}
		failures = 0
		handle(ctx, ds)
	}
}

// ReadingsOf decodes deliveries of the readings stream. It returns the
// readings, the deliveries that brought them, and for each reading the
// index in kept of its delivery. A delivery that cannot be decoded never
// will be: it is logged, acknowledged and left out.
func ReadingsOf(ctx context.Context, ds []Delivery, log *slog.Logger) (rs []reading.Reading, kept []Delivery, from []int) {
	kept = make([]Delivery, 0, len(ds))
	for _, d := range ds {
		batch, err := reading.UnmarshalReadings(d.Data())
		if err != nil {
			log.Error("a message of the readings stream cannot be decoded; skipped", "subject", d.Subject(), "err", err)
			d.Ack(ctx)
			continue
		}
		for range batch {
			from = append(from, len(kept))
		}
		rs, kept = append(rs, batch...), append(kept, d)
	}
	return rs, kept, from
}

// GiveBack hands deliveries back to the queue, to come again after delay,
// instead of waiting for the ack deadline; it does so even when ctx has
// ended (a stage stopping gives back what it holds), within a bound.
func GiveBack(ctx context.Context, ds []Delivery, delay time.Duration) {
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	for _, d := range ds {
		d.Nak(nctx, delay)
	}
}
