package gateway

import (
	"errors"
	"slices"
	"sync"
	"testing"
)

// TestFlightsReportInOrder: lots are sent in order and wait at once, and
// each is reported after every lot started before it, whatever order
// they are acknowledged in, with its own outcome.
func TestFlightsReportInOrder(t *testing.T) {
	fl := newFlights(4)
	release := make([]chan struct{}, 4)
	var mu sync.Mutex
	var sent, order []int
	var errs []error
	refused := errors.New("refused")
	for i := range release {
		release[i] = make(chan struct{})
		fl.start(func() func() error {
			mu.Lock()
			sent = append(sent, i)
			mu.Unlock()
			return func() error {
				<-release[i]
				if i == 2 {
					return refused
				}
				return nil
			}
		}, func(err error) {
			mu.Lock()
			order, errs = append(order, i), append(errs, err)
			mu.Unlock()
		})
	}
	// The last started finishes first, the first last.
	for i := len(release) - 1; i >= 0; i-- {
		close(release[i])
	}
	fl.close()
	if !slices.Equal(sent, []int{0, 1, 2, 3}) {
		t.Errorf("lots sent in the order %v, want 0 1 2 3", sent)
	}
	if !slices.Equal(order, []int{0, 1, 2, 3}) {
		t.Errorf("lots reported in the order %v, want 0 1 2 3", order)
	}
	if errs[2] != refused || errs[0] != nil || errs[1] != nil || errs[3] != nil {
		t.Errorf("outcomes %v: only lot 2 was refused", errs)
	}
}
