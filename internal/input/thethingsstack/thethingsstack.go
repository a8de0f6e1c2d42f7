// Package thethingsstack reads the uplinks of The Things Stack v3's MQTT
// server, published on v3/{application id}@{tenant id}/devices/{device id}/up.
package thethingsstack

import (
	"cmp"
	"encoding/base64"
	"strings"

	"github.com/sensorhub/sensorhub/internal/input/lorawan"
	"github.com/sensorhub/sensorhub/internal/reading"
)

// Format reads The Things Stack uplinks. A device's customer is Customer,
// else the tenant of the topic (ttn on The Things Network); its sensor
// kind is Devices[device id], else Sensor, else the kind whose match
// rules the message meets.
type Format struct {
	Customer string
	Sensor   string
	Devices  map[string]string
	// Separator joins the names of the decoded payload's nested objects
	// ("_").
	Separator string
}

// Read reads one uplink.
func (f *Format) Read(m reading.Message) (reading.Record, error) {
	tenant, err := tenantOf(m.Topic)
	if err != nil {
		return reading.Record{}, err
	}
	obj, err := reading.ParseJSON(m.Payload)
	if err != nil {
		return reading.Record{}, err
	}
	o := lorawan.Object(obj)
	ids := o.Object("end_device_ids")
	up := o.Object("uplink_message")
	if ids == nil || up == nil {
		return reading.Record{}, reading.Reject("The Things Stack message without end_device_ids or uplink_message: only uplinks (.../up) are read")
	}
	rec := reading.Record{
		Customer: cmp.Or(f.Customer, tenant),
		Sensor:   f.Devices[ids.String("device_id")],
		Kinds:    []string{f.Sensor},
		Device:   ids.String("device_id"),
		Time:     up.Time("received_at"),
	}
	if rec.Device == "" {
		return reading.Record{}, reading.Reject("The Things Stack uplink without end_device_ids.device_id")
	}
	if rec.Time.IsZero() {
		rec.Time = o.Time("received_at")
	}
	if eui := ids.String("dev_eui"); eui != "" {
		rec.Strings = map[string]string{"dev_eui": strings.ToLower(eui)}
	}
	if rec.MsgCount, err = counter(up); err != nil {
		return reading.Record{}, err
	}
	lorawan.Set(&rec, lorawan.Radios(up["rx_metadata"], func(g lorawan.Object) string {
		return g.Object("gateway_ids").String("gateway_id")
	}, "rssi", "snr"))
	if decoded, ok := up["decoded_payload"].(map[string]any); ok {
		rec.Fields = lorawan.Fields(decoded, cmp.Or(f.Separator, lorawan.DefaultSeparator))
		return rec, nil
	}
	data, derr := base64.StdEncoding.DecodeString(up.String("frm_payload"))
	if derr != nil {
		return reading.Record{}, reading.Reject("The Things Stack uplink: frm_payload is not base64: %v", derr)
	}
	rec.Payload, rec.Undecoded = data, true
	rec.NoDecoder = "no decoder: The Things Stack sent this uplink without decoded_payload (no payload formatter for the device); " +
		"add one in The Things Stack, or name a payload decoder on the device's sensor kind (sensors.<kind>.payload_decoder: cayenne_lpp)"
	return rec, nil
}

func counter(up lorawan.Object) (int64, error) {
	n, ok := up.Counter("f_cnt")
	if !ok {
		return 0, reading.Reject("The Things Stack uplink: f_cnt %v is not a frame counter", up["f_cnt"])
	}
	return n, nil
}

// tenantOf is the tenant of an uplink topic.
func tenantOf(topic string) (string, error) {
	parts := strings.Split(topic, "/")
	if len(parts) != 5 || parts[0] != "v3" || parts[2] != "devices" || parts[4] != "up" {
		return "", reading.Reject("topic %q is not a The Things Stack uplink topic (v3/{application id}@{tenant id}/devices/{device id}/up)", topic)
	}
	_, tenant, ok := strings.Cut(parts[1], "@")
	if !ok || tenant == "" {
		return "", reading.Reject("topic %q names no tenant (v3/{application id}@{tenant id}/...)", topic)
	}
	return tenant, nil
}
