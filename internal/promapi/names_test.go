package promapi

import (
	"fmt"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/sensorhub/sensorhub/internal/store"
)

// TestMetricNames: a valid name is kind_field; another is escaped as
// Prometheus escapes names, and a selector of the name finds the field
// again without listing the kinds.
func TestMetricNames(t *testing.T) {
	for _, c := range []struct{ kind, field, name string }{
		{"air", "Pres", "air_Pres"},
		{"air", "_rssi", "air__rssi"},
		{"devicev01", "Temp-U", "U__devicev01__Temp_2d_U"},
		{"centrale", "énergie", "U__centrale___e9_nergie"},
		{"2nd", "T", "U___32_nd__T"},
		{"a_b", "c", "a_b_c"},
	} {
		if got := MetricName(c.kind, c.field); got != c.name {
			t.Errorf("MetricName(%q, %q) = %q, want %q", c.kind, c.field, got, c.name)
		}
		found := named([]*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, c.name)})
		want := store.KindField{Sensor: c.kind, FieldUnit: store.FieldUnit{Name: c.field}}
		var ok bool
		for _, kf := range found {
			ok = ok || kf == want
			if MetricName(kf.Sensor, kf.Name) != c.name {
				t.Errorf("%s names %+v, whose name is %s", c.name, kf, MetricName(kf.Sensor, kf.Name))
			}
		}
		if !ok {
			t.Errorf("%s names %s, want %s/%s among them", c.name, fmt.Sprint(found), c.kind, c.field)
		}
	}
}
