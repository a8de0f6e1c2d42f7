package main

import (
	"log/slog"
	"math"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"

	"github.com/sensorhub/sensorhub/internal/config"
)

// TestMemoryLimit: the Go runtime's limit comes from the memory budget,
// leaving room for what it does not count; GOMEMLIMIT wins; memory: 0
// sets none.
func TestMemoryLimit(t *testing.T) {
	if cg, err := memlimit.FromCgroup(); err == nil && cg > 0 && cg < 1<<30 {
		// The cgroup's limit would set the budget in force instead.
		t.Skipf("this process runs under a cgroup memory limit of %d bytes", cg)
	}
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	log := slog.New(slog.DiscardHandler)

	t.Setenv("GOMEMLIMIT", "")
	debug.SetMemoryLimit(math.MaxInt64)
	const budget = 256 << 20
	code := codeBytes()
	if code < defaultCodeBytes || code > budget/2 {
		t.Fatalf("the program's mapped pages read as %d bytes", code)
	}
	// 256 MiB less the code's pages and 64 MiB for SQLite and the rest
	// (the pages read before and after: they may grow in between).
	got := limitOf(t, budget, log)
	after := codeBytes()
	if hi, lo := int64(budget-code-budget/4), int64(budget-after-budget/4); got < lo || got > hi || debug.SetMemoryLimit(-1) != got {
		t.Errorf("a budget of 256 MiB: limit %d (in force %d), want %d to %d", got, debug.SetMemoryLimit(-1), lo, hi)
	}
	// A small budget leaves the runtime half of it, not less.
	if got := limitOf(t, 64<<20, log); got != 32<<20 {
		t.Errorf("a budget of 64 MiB: limit %d, want %d", got, 32<<20)
	}
	debug.SetMemoryLimit(math.MaxInt64)
	if got := limitOf(t, 0, log); got != 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("memory: 0 set a limit: %d", got)
	}
	t.Setenv("GOMEMLIMIT", "300MiB")
	debug.SetMemoryLimit(300 << 20) // as the runtime read it at start
	if got := limitOf(t, config.ByteSize(128<<20), log); got != 300<<20 {
		t.Errorf("with GOMEMLIMIT=300MiB the limit is %d", got)
	}
}

// limitOf sets the limit from a budget and checks that the budget in
// force is the one given (no cgroup limits the test).
func limitOf(t *testing.T, budget config.ByteSize, log *slog.Logger) int64 {
	t.Helper()
	inForce, limit := setMemoryLimit(budget, log)
	if inForce != budget {
		t.Errorf("budget %d: %d in force", budget, inForce)
	}
	return limit
}
