package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

// testLeases: one holder at a time; the holder renews, another waits
// until it expires or is released; a save made under a lease its process
// no longer holds changes nothing.
func testLeases(t *testing.T, s store.Store) {
	ls, ok := inner(s).(store.Leases)
	if !ok {
		t.Fatal("the store has no leases")
	}
	c := ctx(t)
	a, b := store.Lease{Name: "alert", Holder: "a"}, store.Lease{Name: "alert", Holder: "b"}
	acquire := func(l store.Lease, ttl time.Duration, held bool, holder string) {
		t.Helper()
		st, err := ls.AcquireLease(c, l, ttl)
		if err != nil {
			t.Fatal(err)
		}
		if st.Held != held || st.Holder != holder {
			t.Fatalf("%s acquires: held %v by %q, want %v by %q", l.Holder, st.Held, st.Holder, held, holder)
		}
		// Left is read after the lease was written: one of a millisecond
		// may be over by then.
		if held && (st.Left > ttl || ttl >= time.Second && st.Left < 0) {
			t.Errorf("%s holds it for %s more, want [0, %s]", l.Holder, st.Left, ttl)
		}
	}
	acquire(a, time.Minute, true, "a")
	acquire(b, time.Minute, false, "a")
	acquire(a, time.Minute, true, "a") // renewed
	if _, err := ls.AcquireLease(c, store.Lease{Name: "reports", Holder: "b"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	acquire(store.Lease{Name: "reports", Holder: "a"}, time.Minute, false, "b") // leases are apart

	change := func(rule string) []store.AlertChange {
		k := leakKey
		k.Rule = rule
		return []store.AlertChange{{State: store.AlertState{AlertKey: k, Machine: json.RawMessage(`{}`)},
			Open: &store.Alert{Severity: "critical", Started: time.Now(), Message: rule}}}
	}
	if err := ls.SaveAlertsHolding(c, a, change("by-a")); err != nil {
		t.Fatalf("the holder's save: %v", err)
	}
	if err := ls.SaveAlertsHolding(c, b, change("by-b")); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("a save without the lease: %v, want ErrLeaseLost", err)
	}
	if err := ls.ReleaseLease(c, b); err != nil { // not b's: nothing
		t.Fatal(err)
	}
	acquire(b, time.Minute, false, "a")
	if err := ls.ReleaseLease(c, a); err != nil {
		t.Fatal(err)
	}
	acquire(b, time.Millisecond, true, "b")
	if err := ls.SaveAlertsHolding(c, a, change("by-a-after")); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("a save after the lease was given up: %v, want ErrLeaseLost", err)
	}
	time.Sleep(50 * time.Millisecond) // b's lease of 1 ms expires
	if err := ls.SaveAlertsHolding(c, b, change("by-b-late")); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("a save under an expired lease: %v, want ErrLeaseLost", err)
	}
	acquire(a, time.Minute, true, "a")
	got, err := s.Alerts(c, store.AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Rule != "by-a" {
		t.Errorf("alerts %+v, want only the one saved under the lease", got)
	}
}
