package promapi

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

// kindFieldsFor is how long the fields of the sensor kinds are kept for
// the metric picker (label/__name__/values) and selections without a
// name: a field a kind stores for the first time is listed at most this
// late.
const kindFieldsFor = 10 * time.Second

// kindFieldsCache keeps the answers of a store's KindFields a while, by
// filter: listing the fields of every device is the pickers' costliest
// read at thousands of devices.
type kindFieldsCache struct {
	now func() time.Time

	mu   sync.Mutex
	kept map[string]keptKindFields
}

type keptKindFields struct {
	at     time.Time
	fields []store.KindField
}

func (c *kindFieldsCache) kindFields(ctx context.Context, st store.FieldIndex, f store.DeviceFilter) ([]store.KindField, error) {
	key := fmt.Sprintf("%#v", f)
	now := c.now()
	c.mu.Lock()
	k, ok := c.kept[key]
	c.mu.Unlock()
	if ok && now.Sub(k.at) < kindFieldsFor {
		return append([]store.KindField(nil), k.fields...), nil
	}
	fields, err := st.KindFields(ctx, f)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.kept == nil || len(c.kept) >= 1024 {
		c.kept = map[string]keptKindFields{} // bounded: a viewer's scope is one key each
	}
	c.kept[key] = keptKindFields{now, fields}
	c.mu.Unlock()
	return append([]store.KindField(nil), fields...), nil
}
