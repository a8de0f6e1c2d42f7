package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// testFieldIndex: the fields of sensor kinds, each once with a unit, and
// the fields of each device a filter matches, all of them or those named.
func testFieldIndex(t *testing.T, s store.Store) {
	fi, ok := inner(s).(store.FieldIndex)
	if !ok {
		t.Skip("the store does not list fields")
	}
	c := ctx(t)
	at := time.Date(2022, 5, 2, 8, 0, 0, 0, Location)
	var rs []reading.Reading
	for i, d := range []struct {
		customer, sensor, device string
		fields                   map[string]float64
		units                    map[string]string
	}{
		{"finemeca", "air", "201", map[string]float64{"Pres": 6.4, "OpenPres": 6}, map[string]string{"Pres": "bar"}},
		{"finemeca", "air", "202", map[string]float64{"Pres": 6.1, "Temp-U": 1}, nil},
		{"finemeca", "devicev01", "100", map[string]float64{"Temp": 20, "Pres": 1013}, map[string]string{"Pres": "hPa"}},
		{"acme", "air", "901", map[string]float64{"Pres": 5}, nil},
	} {
		rs = append(rs, reading.Reading{Customer: d.customer, Sensor: d.sensor, Device: d.device, Time: at, Received: at,
			MsgCount: int64(i + 1), Fields: d.fields, Units: d.units})
	}
	write(t, s, store.Batch{Readings: rs})

	kinds, err := fi.KindFields(c, store.DeviceFilter{Customers: []string{"finemeca"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, k := range kinds {
		key := k.Sensor + "/" + k.Name
		if _, twice := got[key]; twice {
			t.Errorf("%s listed twice", key)
		}
		got[key] = k.Unit
	}
	if want := map[string]string{"air/OpenPres": "", "air/Pres": "bar", "air/Temp-U": "", "devicev01/Pres": "hPa", "devicev01/Temp": ""}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("finemeca's fields of kinds %v, want %v", got, want)
	}

	devs, err := fi.DeviceFields(c, store.DeviceFilter{Sensor: "air"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, d := range devs {
		listed = append(listed, fmt.Sprintf("%s/%s%v", d.Customer, d.Device, d.Fields))
	}
	if want := "[acme/901[{Pres }] finemeca/201[{OpenPres } {Pres bar}] finemeca/202[{Pres } {Temp-U }]]"; fmt.Sprint(listed) != want {
		t.Errorf("air devices' fields %v, want %s", listed, want)
	}
	devs, err = fi.DeviceFields(c, store.DeviceFilter{Customer: "finemeca"}, []string{"Temp", "OpenPres"})
	if err != nil {
		t.Fatal(err)
	}
	listed = nil
	for _, d := range devs {
		listed = append(listed, fmt.Sprintf("%s/%s%v", d.Sensor, d.Device, d.Fields))
	}
	if want := "[air/201[{OpenPres }] devicev01/100[{Temp }]]"; fmt.Sprint(listed) != want {
		t.Errorf("finemeca's devices with Temp or OpenPres %v, want %s", listed, want)
	}
	if devs, err := fi.DeviceFields(c, store.DeviceFilter{}, []string{}); err != nil || len(devs) != 0 {
		t.Errorf("devices with none of no fields: %v %v", devs, err)
	}

	// A device that comes with many fields at once, and one whose unit
	// changes in the same batch: every field keeps its unit.
	wide := reading.Reading{Customer: "finemeca", Sensor: "wide", Device: "1", Time: at, Received: at, MsgCount: 1,
		Fields: map[string]float64{}, Units: map[string]string{}}
	for i := range 450 {
		f := fmt.Sprintf("F%03d", i)
		wide.Fields[f], wide.Units[f] = float64(i), fmt.Sprintf("u%d", i%7)
	}
	changed := rs[0]
	changed.Time, changed.MsgCount, changed.Units = at.Add(time.Minute), 10, map[string]string{"Pres": "psi"}
	write(t, s, store.Batch{Readings: []reading.Reading{wide, changed}})
	devs, err = fi.DeviceFields(c, store.DeviceFilter{Sensor: "wide"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || len(devs[0].Fields) != 450 {
		t.Fatalf("the wide device's fields: %v", devs)
	}
	for _, f := range devs[0].Fields {
		if f.Unit != wide.Units[f.Name] {
			t.Fatalf("field %s has unit %q, want %q", f.Name, f.Unit, wide.Units[f.Name])
		}
	}
	devs, err = fi.DeviceFields(c, store.DeviceFilter{Customer: "finemeca", Sensor: "air", Device: "201"}, []string{"Pres"})
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || fmt.Sprint(devs[0].Fields) != "[{Pres psi}]" {
		t.Errorf("air 201's Pres after its unit changed: %v", devs)
	}
}
