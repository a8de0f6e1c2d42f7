// Package chirpstack reads the events of ChirpStack v4's MQTT integration,
// published on application/{application_id}/device/{dev_eui}/event/{type}:
// uplinks (up), device status (status) and joins (join).
package chirpstack

import (
	"cmp"
	"encoding/base64"
	"strings"

	"github.com/sensorhub/sensorhub/internal/input/lorawan"
	"github.com/sensorhub/sensorhub/internal/reading"
)

// Format reads ChirpStack v4 events. A device's customer is its tag
// customer, else Customer, else its tenant's name; its sensor kind is its
// tag sensor, else its device profile's name when that is a kind, else
// Sensor, else the kind whose match rules the message meets.
type Format struct {
	Customer string
	Sensor   string
	// Separator joins the names of the codec's nested objects ("_").
	Separator string
}

// Events are the event types read; others are kept rejected.
var Events = []string{"up", "status", "join"}

// Read reads one event.
func (f *Format) Read(m reading.Message) (reading.Record, error) {
	event, err := eventOf(m.Topic)
	if err != nil {
		return reading.Record{}, err
	}
	obj, err := reading.ParseJSON(m.Payload)
	if err != nil {
		return reading.Record{}, err
	}
	o := lorawan.Object(obj)
	info := o.Object("deviceInfo")
	if info == nil {
		return reading.Record{}, reading.Reject("ChirpStack %s event without deviceInfo", event)
	}
	tags := info.Object("tags")
	rec := reading.Record{
		Customer: cmp.Or(tags.String("customer"), f.Customer, info.String("tenantName")),
		Sensor:   tags.String("sensor"),
		Kinds:    []string{info.String("deviceProfileName"), f.Sensor},
		Device:   strings.ToLower(info.String("devEui")),
		Name:     info.String("deviceName"),
		Time:     o.Time("time"),
		MsgCount: reading.NoMsgCount,
		ID:       o.String("deduplicationId"),
	}
	if rec.Device == "" {
		return reading.Record{}, reading.Reject("ChirpStack %s event without deviceInfo.devEui", event)
	}
	switch event {
	case "up":
		return f.uplink(o, rec)
	case "status":
		rec.Status, rec.Units = map[string]float64{}, map[string]string{reading.FieldBattery: "%", reading.FieldMargin: "dB"}
		margin, ok := o.Number("margin")
		if !ok {
			return reading.Record{}, reading.Reject("ChirpStack status event: margin %v is not a number", o["margin"])
		}
		rec.Status[reading.FieldMargin] = margin
		if !o.Bool("batteryLevelUnavailable") && !o.Bool("externalPowerSource") {
			level, ok := o.Number("batteryLevel")
			if !ok {
				return reading.Record{}, reading.Reject("ChirpStack status event: batteryLevel %v is not a number", o["batteryLevel"])
			}
			rec.Status[reading.FieldBattery] = level
		}
	case "join":
		rec.Status = map[string]float64{reading.FieldJoin: 1}
	}
	return rec, nil
}

// uplink reads an up event: the codec's object, or the device's bytes
// for the kind's payload decoder.
func (f *Format) uplink(o lorawan.Object, rec reading.Record) (reading.Record, error) {
	fcnt, ok := o.Counter("fCnt")
	if !ok {
		return reading.Record{}, reading.Reject("ChirpStack uplink: fCnt %v is not a frame counter", o["fCnt"])
	}
	rec.MsgCount = fcnt
	lorawan.Set(&rec, lorawan.Radios(o["rxInfo"], func(g lorawan.Object) string { return g.String("gatewayId") }, "rssi", "snr"))
	if decoded, ok := o["object"].(map[string]any); ok {
		rec.Fields = lorawan.Fields(decoded, cmp.Or(f.Separator, lorawan.DefaultSeparator))
		return rec, nil
	}
	data, err := base64.StdEncoding.DecodeString(o.String("data"))
	if err != nil {
		return reading.Record{}, reading.Reject("ChirpStack uplink: data is not base64: %v", err)
	}
	rec.Payload, rec.Undecoded = data, true
	rec.NoDecoder = "no decoder: ChirpStack sent this uplink without object (its device profile " +
		quote(o.Object("deviceInfo").String("deviceProfileName")) + " has no codec); give the profile a codec, " +
		"or name a payload decoder on the device's sensor kind (sensors.<kind>.payload_decoder: cayenne_lpp)"
	return rec, nil
}

func quote(s string) string { return `"` + s + `"` }

// eventOf is the event type of a ChirpStack event topic.
func eventOf(topic string) (string, error) {
	parts := strings.Split(topic, "/")
	n := len(parts)
	if n < 6 || parts[n-6] != "application" || parts[n-4] != "device" || parts[n-2] != "event" {
		return "", reading.Reject("topic %q is not a ChirpStack event topic (application/{application_id}/device/{dev_eui}/event/{type})", topic)
	}
	switch e := parts[n-1]; e {
	case "up", "status", "join":
		return e, nil
	default:
		return "", reading.Reject("ChirpStack %s events are not read (only %s): subscribe to .../event/up, status and join", e, strings.Join(Events, ", "))
	}
}
