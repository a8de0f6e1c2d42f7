package plan

import (
	"fmt"
	"slices"

	"github.com/sensorhub/sensorhub/internal/config"
)

// checkLeakFields checks that the fields the leak figures and the
// compressors read are fields their kinds store: a misspelt flow field
// would otherwise leave every figure not measurable without a word.
func checkLeakFields(c *config.Config, f *config.File) []error {
	var errs []error
	stores := func(sensor, field string) bool {
		s := c.Sensors[sensor]
		if s == nil {
			return true // Validate reports the kind
		}
		stored := StoredFields(s)
		return stored == nil || slices.Contains(stored, field) || s.Derive[field] != ""
	}
	for _, name := range c.SensorNames() {
		s := c.Sensors[name]
		if s == nil || s.Leak == nil {
			continue
		}
		at := "sensors." + name + ".leak"
		for _, kf := range [][2]string{{"pressure", s.Leak.Pressure}, {"opening", s.Leak.Opening}, {"flow", s.Leak.Flow}} {
			if kf[1] != "" && !stores(name, kf[1]) {
				errs = append(errs, f.Errorf(at+"."+kf[0], "%q is neither kept nor derived by sensors.%s", kf[1], name))
			}
		}
		for dev, p := range s.Leak.Devices {
			if p.Flow != "" && !stores(name, p.Flow) {
				errs = append(errs, f.Errorf(at+".devices."+dev+".flow", "%q is neither kept nor derived by sensors.%s", p.Flow, name))
			}
		}
	}
	for i, cp := range c.Compressors {
		for key, m := range []config.MeterField{cp.Power, cp.Flow} {
			if m.Field != "" && !stores(m.Sensor, m.Field) {
				errs = append(errs, f.Errorf(fmt.Sprintf("compressors.%d.%s.field", i, []string{"power", "flow"}[key]), "%q is neither kept nor derived by sensors.%s", m.Field, m.Sensor))
			}
		}
	}
	return errs
}
