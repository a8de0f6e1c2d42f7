package gateway

import (
	"context"
	"sync"
)

// forwardFlights is how many lots of messages a gateway puts on the queue
// at once. Senders hold only a few messages unacknowledged (Mosquitto
// gives a subscriber 20; a device's client a few hundred): while one lot
// waits for the queue's acknowledgement, the messages that came meanwhile
// go as the next lot instead of waiting for it, so that acknowledgements
// flow back steadily rather than a lot at a time.
const forwardFlights = 4

// gather takes the messages waiting in in as one lot: at least one, at
// most batchMax. It returns false when ctx ends first.
func gather[T any](ctx context.Context, in <-chan T) ([]T, bool) {
	var lot []T
	select {
	case x := <-in:
		lot = append(make([]T, 0, min(len(in)+1, batchMax)), x)
	case <-ctx.Done():
		return nil, false
	}
	for len(lot) < batchMax {
		select {
		case x := <-in:
			lot = append(lot, x)
		default:
			return lot, true
		}
	}
	return lot, true
}

// flights sends lots in order, waits for their acknowledgements
// concurrently, and reports each one's outcome in the order the lots were
// started: the raw stream holds a device's messages in the order they
// came (unless a lot is tried again, Forwarder.Send), and an MQTT receiver
// acknowledges QoS 1 messages in that order.
type flights struct {
	order chan *flight
	wg    sync.WaitGroup
}

type flight struct {
	err  chan error
	done func(error)
}

// newFlights lets n lots (at least 1) wait at once: the reporter holds
// one, the channel the others.
func newFlights(n int) *flights {
	f := &flights{order: make(chan *flight, max(n, 1)-1)}
	f.wg.Go(func() {
		for fl := range f.order {
			fl.done(<-fl.err)
		}
	})
	return f
}

// start waits while n lots wait to be reported, then calls send on the
// caller's goroutine and its wait on a goroutine of its own; done is
// called with the wait's error once every lot started before it is done.
func (f *flights) start(send func() (wait func() error), done func(error)) {
	fl := &flight{err: make(chan error, 1), done: done}
	f.order <- fl
	wait := send()
	go func() { fl.err <- wait() }()
}

// close waits until every lot started is done.
func (f *flights) close() {
	close(f.order)
	f.wg.Wait()
}
