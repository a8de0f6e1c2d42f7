package gateway

import (
	"context"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// ReplayRejected puts the rejected messages that f matches back on the raw
// stream, as they were received, for ingest to decode again (after a
// configuration fix). One that now decodes is stored and its rejected entry
// removed in the same transaction; one that fails again stays, with the new
// reason. Replaying twice stores nothing twice. It returns how many
// messages were queued.
func ReplayRejected(ctx context.Context, st store.Reader, fw *Forwarder, f store.RejectedFilter) (int, error) {
	f.Limit = 500
	total := 0
	for {
		list, err := st.Rejected(ctx, f)
		if err != nil || len(list) == 0 {
			return total, err
		}
		envs := make([]reading.Envelope, len(list))
		for i, rj := range list {
			// Held to its sender's binding again: a message of acme's
			// token stays acme's, whatever it names and whatever limit
			// it was rejected on.
			envs[i] = reading.Envelope{Topic: rj.Topic, Payload: rj.Payload, Received: rj.Received, Source: rj.Source,
				ReplayOf: rj.ID, Customer: rj.Binding}
		}
		if err := fw.Forward(ctx, envs...); err != nil {
			return total, err
		}
		total += len(list)
		f.BeforeID = list[len(list)-1].ID
	}
}
