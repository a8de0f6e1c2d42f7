package app

import (
	"testing"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/plan"
)

// TestRulesOf: two plans of the same rules compare equal, so that the
// alert engine is not reloaded for a new user; a changed threshold does
// not.
func TestRulesOf(t *testing.T) {
	a, b := config.Default(), config.Default()
	b.Auth.Users = nil
	if rulesOf(plan.MustCompile(a)) != rulesOf(plan.MustCompile(b)) {
		t.Error("two plans of the same rules differ")
	}
	b.Alerts.Rules = append([]alert.RuleSpec{}, b.Alerts.Rules...)
	b.Alerts.Rules[0].When = "Pres < OpenPres - 0.1"
	if rulesOf(plan.MustCompile(a)) == rulesOf(plan.MustCompile(b)) {
		t.Error("a changed rule is not seen")
	}
}
