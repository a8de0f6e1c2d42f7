package promapi

import (
	"github.com/prometheus/common/model"
)

// The labels of every series.
const (
	LabelCustomer = "customer"
	LabelSensor   = "sensor"
	LabelDevice   = "device"
)

// MetricName is the name of the series of a field of a sensor kind:
// kind_field when that is a valid Prometheus metric name (letters, digits,
// underscores and colons, not starting with a digit), and otherwise Prometheus'
// own value-encoding escape of it: U__ followed by the name with each
// underscore doubled and each other character that a name may not hold
// written as _ and its hexadecimal code point and _ (Temp-U of kind
// devicev01 is U__devicev01__Temp_2d_U). The escape is one to one, so two
// fields never share a name.
func MetricName(kind, field string) string {
	name := kind + "_" + field
	if model.LegacyValidation.IsValidMetricName(name) {
		return name
	}
	return model.EscapeName(name, model.ValueEncodingEscaping)
}
