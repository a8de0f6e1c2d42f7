package health

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestProgress: a stage is stuck only while it holds work, or has work
// waiting, and nothing finished for longer than the bound; finishing
// anything clears it.
func TestProgress(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &Progress{Stall: 30 * time.Second, Now: func() time.Time { return now }}
	ctx := context.Background()
	now = now.Add(time.Hour)
	if err := p.Check(ctx); err != nil {
		t.Fatalf("idle without work: %v", err)
	}
	p.Begin()
	now = now.Add(29 * time.Second)
	if err := p.Check(ctx); err != nil {
		t.Fatalf("29 s into a batch: %v", err)
	}
	p.Failed(errors.New("database is locked"))
	now = now.Add(2 * time.Second)
	err := p.Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "no progress for 31s") || !strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("31 s into a batch that fails: %v", err)
	}
	p.End(true)
	if err := p.Check(ctx); err != nil {
		t.Fatalf("after the batch: %v", err)
	}
	// Work waiting on the queue that the stage does not take.
	p.Waiting(500)
	now = now.Add(40 * time.Second)
	if err := p.Check(ctx); err == nil || !strings.Contains(err.Error(), "500 messages waiting") {
		t.Fatalf("500 messages waiting for 40 s: %v", err)
	}
	p.Waiting(0)
	if err := p.Check(ctx); err != nil {
		t.Fatalf("nothing waiting: %v", err)
	}
	// A batch given back (shutdown) is not progress.
	p.Begin()
	p.End(false)
	if err := p.Check(ctx); err != nil {
		t.Fatalf("nothing in hand: %v", err)
	}
}
