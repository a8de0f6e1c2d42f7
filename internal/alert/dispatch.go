package alert

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/store"
)

// Outbox is the store of the notifications still to send.
type Outbox interface {
	PendingNotifications(ctx context.Context, notifier string, limit int) ([]store.Notification, error)
	FinishNotification(ctx context.Context, n store.Notification) error
}

// Dispatcher drains the outbox: one sender per notifier sends its
// pending notifications oldest first, each with bounded retries, and
// records how each ended. A notifier that fails holds up no other; a
// notification still pending when the dispatcher stops is sent after the
// restart.
type Dispatcher struct {
	Outbox Outbox
	// Notifiers by name, as the dispatcher starts; SetNotifiers changes
	// them while it runs.
	Notifiers map[string]notify.Notifier
	Backoff   notify.Backoff
	Metrics   *metrics.Metrics
	Log       *slog.Logger
	// Poll is how often each sender looks for notifications it was not
	// woken for (written by another process); 5 s when zero.
	Poll time.Duration
	// Now is the clock of the times recorded; time.Now when nil.
	Now func() time.Time

	once sync.Once
	mu   sync.Mutex
	wake map[string]chan struct{}
	// run starts a sender while Run runs; nil before and after.
	run func(name string)
}

const dispatchBatch = 20

func (d *Dispatcher) init() {
	d.once.Do(func() {
		d.wake = map[string]chan struct{}{}
		for name := range d.Notifiers {
			d.wake[name] = make(chan struct{}, 1)
		}
		if d.Log == nil {
			d.Log = slog.Default()
		}
		if d.Poll <= 0 {
			d.Poll = 5 * time.Second
		}
	})
}

// SetNotifiers makes ns the notifiers: a new one gets a sender, one
// taken out has its sender stop once it sent what it was sending, and
// one changed sends its next notification as it is now.
func (d *Dispatcher) SetNotifiers(ns map[string]notify.Notifier) {
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.Notifiers = ns
	for name := range ns {
		if d.wake[name] == nil {
			d.wake[name] = make(chan struct{}, 1)
			if d.run != nil {
				d.run(name)
			}
		}
	}
	// A sender of a notifier taken out stops when it next looks: wake it.
	for name, w := range d.wake {
		if ns[name] == nil {
			select {
			case w <- struct{}{}:
			default:
			}
		}
	}
}

// notifier is the notifier name as it is now, and its wake-up channel;
// nil when it was taken out, which forgets it.
func (d *Dispatcher) notifier(name string) notify.Notifier {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.Notifiers[name]
	if n == nil {
		delete(d.wake, name)
	}
	return n
}

// Wake tells the sender of each notification's notifier that it has
// something to send.
func (d *Dispatcher) Wake(ns []store.Notification) {
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range ns {
		if w, ok := d.wake[n.Notifier]; ok {
			select {
			case w <- struct{}{}:
			default:
			}
		}
	}
}

// Run sends until ctx ends, and returns when every sender has stopped.
func (d *Dispatcher) Run(ctx context.Context) {
	d.init()
	var wg sync.WaitGroup
	d.mu.Lock()
	d.run = func(name string) {
		w := d.wake[name]
		wg.Go(func() { d.send(ctx, name, w) })
	}
	for name := range d.Notifiers {
		d.run(name)
	}
	d.mu.Unlock()
	<-ctx.Done()
	d.mu.Lock()
	d.run = nil
	d.mu.Unlock()
	wg.Wait()
}

// send sends one notifier's pending notifications until ctx ends.
func (d *Dispatcher) send(ctx context.Context, name string, wake <-chan struct{}) {
	log := d.Log.With("notifier", name)
	for {
		n := d.notifier(name)
		if n == nil {
			log.Info("notifier taken out: its sender stops; what it had to send stays in the outbox")
			return
		}
		pending, err := d.Outbox.PendingNotifications(ctx, name, dispatchBatch)
		if err != nil && ctx.Err() == nil {
			log.Warn("reading notifications to send failed", "err", err)
		}
		for _, p := range pending {
			var ev notify.Event
			if err := json.Unmarshal(p.Event, &ev); err != nil {
				p.Status, p.Error = store.NotificationFailed, "cannot decode the event: "+err.Error()
			} else {
				ev.ID = strconv.FormatInt(p.AlertID, 10)
				attempts, err := notify.Send(ctx, n, ev, d.Backoff, log)
				if ctx.Err() != nil {
					// Stopping: it stays pending and is sent after the restart.
					return
				}
				p.Attempts += attempts
				p.Status, p.Error = store.NotificationSent, ""
				if err != nil {
					p.Status, p.Error = store.NotificationFailed, err.Error()
					log.Error("notification not sent", "rule", ev.Rule, "device", ev.Device, "alert", p.AlertID, "err", err)
				}
			}
			p.Done = time.Now()
			if d.Now != nil {
				p.Done = d.Now()
			}
			if d.Metrics != nil {
				d.Metrics.Notifications.WithLabelValues(name, p.Status).Inc()
			}
			if err := d.Outbox.FinishNotification(context.WithoutCancel(ctx), p); err != nil {
				log.Error("recording a notification failed", "id", p.ID, "err", err)
			}
		}
		if len(pending) == dispatchBatch {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-time.After(d.Poll):
		}
	}
}
