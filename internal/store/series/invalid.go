package series

import (
	"context"

	"github.com/sensorhub/sensorhub/internal/store"
)

// invalidOf are the device's invalid intervals that an increase query
// leaves out: those that start before its end (one before its start can
// still hold the interval up to its first reading). None for another
// aggregation, or a store that keeps none.
func invalidOf(ctx context.Context, s store.Reader, q Query) ([]store.InvalidInterval, error) {
	iv, ok := s.(store.Intervals)
	if !ok || q.Agg != "increase" {
		return nil, nil
	}
	return iv.InvalidIntervals(ctx, store.InvalidQuery{Customer: q.Customer, Sensor: q.Sensor, Device: q.Device, To: q.To})
}
