// Package modbus polls Modbus TCP devices and reads what they answer:
// register maps (the built-in meters' and configured ones), their
// decoding, the merging of contiguous registers into few requests, the
// poller that puts each poll on the raw stream, and the format that
// ingest reads it with.
//
// A poll is a message like any other: the poller, in the gateway role,
// publishes it as a JSON payload on the topic modbus/{customer}/{device}
// with a per-device poll counter as its message counter, so that ingest,
// formulas, the store's exactly-once writes and loss counting apply to it
// unchanged: a poll the device did not answer is a gap in the counter,
// counted in _lost.
package modbus

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
)

// TopicPrefix starts the topic of every poll: modbus/{customer}/{device}.
const TopicPrefix = "modbus/"

// Source is the envelope source of the polls.
const Source = "modbus"

// Poll is the payload of one poll's message.
type Poll struct {
	Customer string `json:"customer"`
	Sensor   string `json:"sensor"`
	Device   string `json:"device"`
	Name     string `json:"name,omitempty"`
	// Address is the device's host:port, kept as its gateway.
	Address string `json:"address"`
	// Count numbers the device's polls since the poller started, one per
	// interval, answered or not.
	Count  int64              `json:"poll"`
	Time   time.Time          `json:"time"`
	Fields map[string]float64 `json:"fields"`
	Units  map[string]string  `json:"units,omitempty"`
	// Errors are the exceptions the device answered some requests with
	// (an illegal data address): their fields are absent.
	Errors []string `json:"errors,omitempty"`
}

// Input is the input ingest reads the polls with.
func Input() reading.Input {
	return reading.Input{Name: "modbus", Topics: []string{TopicPrefix + "#"}, Format: Format{}}
}

// Format reads the polls the poller publishes.
type Format struct{}

// Read reads one poll.
func (Format) Read(m reading.Message) (reading.Record, error) {
	var p Poll
	dec := json.NewDecoder(bytes.NewReader(m.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return reading.Record{}, reading.Reject("modbus poll: %v", err)
	}
	if p.Time.IsZero() {
		return reading.Record{}, reading.Reject("modbus poll without time")
	}
	rec := reading.Record{
		Customer: p.Customer, Sensor: p.Sensor, Device: p.Device, Name: p.Name, Gateway: p.Address,
		Time: p.Time, MsgCount: p.Count, Fields: make(map[string]any, len(p.Fields)), Units: p.Units,
	}
	if p.Sensor == "" {
		return reading.Record{}, reading.Reject("modbus poll without sensor kind")
	}
	for k, v := range p.Fields {
		if k == "" || strings.ContainsRune(k, 0) {
			return reading.Record{}, reading.Reject("modbus poll: field name %q", k)
		}
		rec.Fields[k] = v
	}
	if len(p.Errors) > 0 {
		msg, _ := json.Marshal(p.Errors)
		rec.Strings = map[string]string{"modbus_errors": string(msg)}
	}
	return rec, nil
}
