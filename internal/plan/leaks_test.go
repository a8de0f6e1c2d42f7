package plan_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sensorhub/sensorhub/internal/plan"
)

// TestLeakFieldsAreStored: a leak flow field or a compressor's meter
// field its kind does not keep is refused at start-up with its line.
func TestLeakFieldsAreStored(t *testing.T) {
	_, err := plan.Load(filepath.Join("..", "config", "testdata", "bad_leak_fields.yaml"))
	if err == nil {
		t.Fatal("loaded without error")
	}
	for _, want := range []string{
		`bad_leak_fields.yaml:11: sensors.line.leak.flow: "Flw" is neither kept nor derived by sensors.line`,
		`bad_leak_fields.yaml:18: compressors.0.power.field: "E" is neither kept nor derived by sensors.line`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "compressors.0.flow") {
		t.Errorf("error %q names the flow meter, which the kind keeps", err)
	}
}
