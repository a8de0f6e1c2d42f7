// Package input knows the formats sensorhub reads device messages in and
// the payload decoders a sensor kind may name: which settings of an input
// each format takes, their checks, and the reading.Format each builds.
// A new format is a package beside chirpstack and thethingsstack, with
// its testdata, and an entry in Formats.
package input

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/input/cayenne"
	"github.com/sensorhub/sensorhub/internal/input/chirpstack"
	"github.com/sensorhub/sensorhub/internal/input/sparkplug"
	"github.com/sensorhub/sensorhub/internal/input/thethingsstack"
	"github.com/sensorhub/sensorhub/internal/reading"
)

// Format is one format an input may name.
type Format struct {
	// Takes are the settings of an input the format reads, beside format
	// and topics.
	Takes []string
	// New builds the format from an input's settings; nil builds the
	// default format (the flat JSON).
	New func(in config.Input) reading.Format
	// Check, when set, reports what the format refuses of an input's
	// settings beside those Takes names.
	Check func(in config.Input) []Problem
}

// Formats are the formats by name.
var Formats = map[string]Format{
	// finemeca is the flat JSON of the Finemeca gateways, the default
	// format of the topics no input names.
	"finemeca": {},
	"chirpstack": {Takes: []string{"customer", "sensor", "separator"}, New: func(in config.Input) reading.Format {
		return &chirpstack.Format{Customer: in.Customer, Sensor: in.Sensor, Separator: in.Separator}
	}},
	"thethingsstack": {Takes: []string{"customer", "sensor", "devices", "separator"}, New: func(in config.Input) reading.Format {
		return &thethingsstack.Format{Customer: in.Customer, Sensor: in.Sensor, Devices: in.Devices, Separator: in.Separator}
	}},
	"sparkplug": {Takes: []string{"customer", "sensor", "devices", "separator"}, New: func(in config.Input) reading.Format {
		return &sparkplug.Format{Customer: in.Customer, Sensor: in.Sensor, Devices: in.Devices, Separator: in.Separator, Nodes: SparkplugNodes}
	}, Check: checkSparkplug},
}

// SparkplugNodes is what this process learnt from the births of
// Sparkplug B edge nodes: it outlives the formats, built again on every
// change of the configuration.
var SparkplugNodes = sparkplug.NewNodes()

// PayloadDecoders are the payload decoders a sensor kind may name.
var PayloadDecoders = map[string]reading.PayloadDecoder{
	cayenne.Name: cayenne.Decode,
}

// Problem is a setting of an input that its format refuses.
type Problem struct {
	// Field is the setting's key under the input: "format", "devices".
	Field, Msg string
}

// Check reports what an input's format refuses of its settings.
func Check(in config.Input) []Problem {
	f, ok := Formats[in.Format]
	if !ok {
		return []Problem{{"format", fmt.Sprintf("%q is not one of %s", in.Format, strings.Join(slices.Sorted(maps.Keys(Formats)), ", "))}}
	}
	var out []Problem
	for _, s := range []struct {
		key string
		set bool
	}{{"customer", in.Customer != ""}, {"sensor", in.Sensor != ""}, {"devices", len(in.Devices) > 0}, {"separator", in.Separator != ""}} {
		if s.set && !slices.Contains(f.Takes, s.key) {
			out = append(out, Problem{s.key, fmt.Sprintf("the %s format takes no %s", in.Format, s.key)})
		}
	}
	if in.Separator != "" && strings.ContainsAny(in.Separator, ".*> \t/") {
		out = append(out, Problem{"separator", fmt.Sprintf("%q: a field name must not contain '.', '*', '>', '/' or spaces", in.Separator)})
	}
	if f.Check != nil {
		out = append(out, f.Check(in)...)
	}
	return out
}

// checkSparkplug refuses topic filters that no Sparkplug B message
// matches.
func checkSparkplug(in config.Input) []Problem {
	var out []Problem
	for i, t := range in.Topics {
		if first, _, _ := strings.Cut(t, "/"); first != sparkplug.Namespace && first != "+" && first != "#" {
			out = append(out, Problem{fmt.Sprintf("topics.%d", i), fmt.Sprintf("%q: Sparkplug B topics begin with %s/ (%s/{group}/+/+ and %s/{group}/+/+/+)", t, sparkplug.Namespace, sparkplug.Namespace, sparkplug.Namespace)})
		}
	}
	return out
}

// New builds the inputs of a configuration, which Check accepted, in
// their order: a topic two inputs read is the first's.
func New(ins []config.Input) []reading.Input {
	out := make([]reading.Input, 0, len(ins))
	for i, in := range ins {
		ri := reading.Input{Name: fmt.Sprintf("inputs.%d (%s)", i, in.Format), Topics: in.Topics}
		if f := Formats[in.Format]; f.New != nil {
			ri.Format = f.New(in)
		}
		out = append(out, ri)
	}
	return out
}
