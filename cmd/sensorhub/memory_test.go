package main

import (
	"log/slog"
	"math"
	"runtime/debug"
	"testing"

	"github.com/sensorhub/sensorhub/internal/config"
)

// TestMemoryLimit: the Go runtime's limit comes from the memory budget,
// leaving room for what it does not count; GOMEMLIMIT wins; memory: 0
// sets none.
func TestMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	log := slog.New(slog.DiscardHandler)

	t.Setenv("GOMEMLIMIT", "")
	debug.SetMemoryLimit(math.MaxInt64)
	budget := float64(256 << 20)
	if got, want := setMemoryLimit(256<<20, log), int64(goShare*budget); got != want || debug.SetMemoryLimit(-1) != want {
		t.Errorf("a budget of 256 MiB: limit %d (in force %d), want %d", got, debug.SetMemoryLimit(-1), want)
	}
	debug.SetMemoryLimit(math.MaxInt64)
	if got := setMemoryLimit(0, log); got != 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("memory: 0 set a limit: %d", got)
	}
	t.Setenv("GOMEMLIMIT", "300MiB")
	debug.SetMemoryLimit(300 << 20) // as the runtime read it at start
	if got := setMemoryLimit(config.ByteSize(128<<20), log); got != 300<<20 {
		t.Errorf("with GOMEMLIMIT=300MiB the limit is %d", got)
	}
}
