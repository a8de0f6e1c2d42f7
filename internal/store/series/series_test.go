package series

import (
	"testing"
	"time"
)

func TestAutoStep(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	cases := map[time.Duration]string{
		time.Hour: "", 24 * time.Hour: "5m", 7 * 24 * time.Hour: "30m", 30 * 24 * time.Hour: "2h", 400 * 24 * time.Hour: "1d",
	}
	for span, want := range cases {
		got := AutoStep(now.Add(-span), now)
		if got.String() != want {
			t.Errorf("span %s: step %q, want %q", span, got, want)
		}
		if want != "" {
			back, err := ParseStep(got.String())
			if err != nil || back != got {
				t.Errorf("step %q does not read back: %v %v", got, back, err)
			}
		}
	}
}
