package notify

import (
	"context"
	"encoding/json"

	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/reading"
)

// Queue publishes events to the queue's alerts stream, under the subject
// customer.sensor.device, as JSON (the Event type's fields).
type Queue struct {
	Publisher queue.Publisher
}

// Notify publishes ev; the queue drops a copy of an event already
// published. A failure is worth a retry.
func (q *Queue) Notify(ctx context.Context, ev Event) (bool, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return false, err
	}
	kind := ev.State
	if ev.Repeat {
		kind = "repeat"
	}
	id := ev.ID + "/" + kind + "/" + ev.Time.UTC().Format("20060102T150405.000000000")
	err = q.Publisher.Publish(ctx, queue.Message{Stream: queue.Alerts, Subject: (&reading.Reading{Customer: ev.Customer, Sensor: ev.Sensor, Device: ev.Device}).Subject(), ID: id, Data: data})
	return err != nil, err
}
