package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// Customer is what LoadCustomer wrote: its devices of each kind, and
// those that lost messages or went silent.
type Customer struct {
	Devices, Meters, AirLines int
	// Lossy lost one message in ten; Silent sent nothing after noon.
	Lossy, Silent int
}

// LoadCustomer writes one day (day, local midnight to midnight) of n
// devices of customer, sparse as a large installation's are: one in
// twenty a power meter every 15 minutes, one in four hundred an air line
// every 5 minutes, the others weather sensors every hour. One device in
// fifty loses one message in ten, one in a hundred goes silent at noon.
// The readings go in batches of 20,000 and are compacted, as a day's are
// once written; the names are "<kind>-<n>".
func LoadCustomer(tb testing.TB, s store.Store, customer string, n int, day time.Time) Customer {
	tb.Helper()
	ctx := context.Background()
	var c Customer
	batch := make([]reading.Reading, 0, 20000)
	flush := func() {
		if _, err := s.Write(ctx, store.Batch{Readings: batch}); err != nil {
			tb.Fatal(err)
		}
		batch = batch[:0]
	}
	for d := range n {
		sensor, every := "devicev01", time.Hour
		switch {
		case d%20 == 0:
			sensor, every = "centrale", 15*time.Minute
			c.Meters++
		case d%400 == 1:
			sensor, every = "air", 5*time.Minute
			c.AirLines++
		}
		c.Devices++
		lossy, silent := d%50 == 7, d%100 == 3
		if lossy {
			c.Lossy++
		}
		if silent {
			c.Silent++
		}
		id := fmt.Sprintf("%06d", d)
		msg, lost := int64(0), 0.0
		for i, t := 0, day; t.Before(day.AddDate(0, 0, 1)); i, t = i+1, t.Add(every) {
			msg++
			if lossy && i%10 == 9 {
				lost++
				continue
			}
			if silent && t.In(day.Location()).Hour() >= 12 {
				break
			}
			var fields map[string]float64
			switch sensor {
			case "centrale":
				fields = map[string]float64{"E": 1000 + float64(i)*2.5, "P": 10, reading.FieldLost: lost}
			case "air":
				fields = map[string]float64{"Pres": 6.5, "OpenPres": 6, reading.FieldLost: lost}
			default:
				fields = map[string]float64{"Temp": 12 + float64(i%24)/4, "Pres": 1013, "Hum": 60, reading.FieldLost: lost}
			}
			lost = 0
			batch = append(batch, reading.Reading{Customer: customer, Sensor: sensor, Device: id, Name: sensor + "-" + id,
				Time: t.UTC(), Received: t.UTC(), MsgCount: msg, Fields: fields})
			if len(batch) == cap(batch) {
				flush()
			}
		}
	}
	flush()
	if cs, ok := s.(Compactor); ok {
		if err := cs.Compact(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	return c
}
