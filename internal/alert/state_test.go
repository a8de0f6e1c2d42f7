package alert_test

import (
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert"
)

var t0 = time.Date(2022, 5, 2, 6, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func count(actions []alert.Action) (firing, resolved, repeat int) {
	for _, a := range actions {
		switch a {
		case alert.NotifyFiring:
			firing++
		case alert.NotifyResolved:
			resolved++
		case alert.NotifyRepeat:
			repeat++
		}
	}
	return
}

// TestLeakStory: below the opening pressure for longer than For fires
// once; back above the clearing level resolves once.
func TestLeakStory(t *testing.T) {
	r := alert.Timing{For: time.Minute, NotifyResolved: true}
	var a alert.Alert
	open, clearAt := 6.0, 6.1
	pres := []float64{6.4, 5.9, 5.8, 5.7, 5.6, 5.9, 6.05, 6.2, 6.3}
	var acts []alert.Action
	for i, p := range pres {
		acts = append(acts, a.Observe(at(30*i), p < open, p >= clearAt, r))
	}
	if f, res, _ := count(acts); f != 1 || res != 1 {
		t.Fatalf("actions %v: %d firing, %d resolved; want 1 and 1", acts, f, res)
	}
	// It fired at the reading one minute after the first below (i=1 -> i=3).
	if acts[3] != alert.NotifyFiring || acts[7] != alert.NotifyResolved {
		t.Errorf("actions %v: fire at the 4th reading, resolve at the 8th (6.05 is within the hysteresis)", acts)
	}
}

// TestFlapping: oscillating around the opening pressure every reading,
// with hysteresis, gives at most one firing and one resolved.
func TestFlapping(t *testing.T) {
	r := alert.Timing{For: 0, NotifyResolved: true}
	var a alert.Alert
	var acts []alert.Action
	for i := 0; i < 200; i++ {
		p := 5.95
		if i%2 == 1 {
			p = 6.05
		}
		acts = append(acts, a.Observe(at(30*i), p < 6.0, p >= 6.1, r))
	}
	acts = append(acts, a.Observe(at(30*200), false, true, r)) // finally back up
	if f, res, _ := count(acts); f != 1 || res != 1 {
		t.Fatalf("%d firing and %d resolved over the oscillation, want 1 and 1", f, res)
	}
}

func TestPendingCancelledByARecovery(t *testing.T) {
	r := alert.Timing{For: time.Minute, NotifyResolved: true}
	var a alert.Alert
	a.Observe(at(0), true, false, r)
	a.Observe(at(30), false, true, r)
	if act := a.Observe(at(90), true, false, r); act != alert.None || a.State != alert.Pending {
		t.Fatalf("state %s after a recovery: the For period starts again", a.State)
	}
	if act := a.Observe(at(150), true, false, r); act != alert.NotifyFiring {
		t.Fatalf("60 s after the new start: %v, want firing", act)
	}
}

func TestLateReadingDoesNotMoveBack(t *testing.T) {
	r := alert.Timing{NotifyResolved: true}
	var a alert.Alert
	a.Observe(at(60), true, false, r)
	if act := a.Observe(at(30), false, true, r); act != alert.None || a.State != alert.Firing {
		t.Fatalf("a late clearing reading resolved the alert: %v %s", act, a.State)
	}
}

func TestPendingFiresOnTimerWhenTheDeviceGoesQuiet(t *testing.T) {
	r := alert.Timing{For: 5 * time.Minute}
	var a alert.Alert
	a.Observe(at(0), true, false, r)
	if act := a.Tick(at(240), at(0), r); act != alert.None {
		t.Fatalf("fired before For: %v", act)
	}
	if act := a.Tick(at(300), at(0), r); act != alert.NotifyFiring {
		t.Fatalf("at For with the condition last true: %v, want firing", act)
	}
}

// TestSilentDevice: no reading for NoDataFor fires, the next reading
// resolves.
func TestSilentDevice(t *testing.T) {
	r := alert.Timing{NoDataFor: 10 * time.Minute, NotifyResolved: true}
	var a alert.Alert
	last := at(0)
	a.Observe(last, false, false, r)
	if act := a.Tick(at(9*60), last, r); act != alert.None {
		t.Fatalf("fired early: %v", act)
	}
	if act := a.Tick(at(10*60+5), last, r); act != alert.NotifyFiring {
		t.Fatalf("silent for 10 min 5 s: %v, want firing", act)
	}
	if act := a.Tick(at(11*60), last, r); act != alert.None {
		t.Fatalf("fired twice: %v", act)
	}
	if act := a.Observe(at(12*60), false, false, r); act != alert.NotifyResolved {
		t.Fatalf("the device spoke again: %v, want resolved", act)
	}
}

// TestRepeatAndAck: a firing alert repeats on schedule until acknowledged;
// state survives a restart as the stored value it is.
func TestRepeatAndAck(t *testing.T) {
	r := alert.Timing{RepeatEvery: time.Hour, NotifyResolved: true}
	var a alert.Alert
	a.Observe(at(0), true, false, r)
	restored := a // what the store gives back after a restart
	if act := restored.Tick(at(30*60), at(30*60), r); act != alert.None {
		t.Fatalf("repeated early: %v", act)
	}
	if act := restored.Tick(at(60*60), at(60*60), r); act != alert.NotifyRepeat {
		t.Fatalf("at the hour: %v, want a repeat", act)
	}
	if !restored.Ack() {
		t.Fatal("ack of a firing alert refused")
	}
	if act := restored.Tick(at(3*60*60), at(3*60*60), r); act != alert.None {
		t.Fatalf("repeated after the ack: %v", act)
	}
	if act := restored.Observe(at(3*60*60+1), false, true, r); act != alert.NotifyResolved || restored.Acked {
		t.Fatalf("resolve: %v acked %v", act, restored.Acked)
	}
}
