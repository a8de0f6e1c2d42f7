package main

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"

	"github.com/sensorhub/sensorhub/internal/config"
)

// goShare is the part of the memory budget given to the Go runtime's
// limit: the rest is for what it does not count (SQLite's page cache,
// the binary's own pages).
const goShare = 0.85

// setMemoryLimit sets the Go runtime's soft memory limit from the
// configuration's budget (memory), or from the cgroup's limit when it is
// lower, unless GOMEMLIMIT sets it. Near the limit the garbage collector
// works harder instead of letting the resident set grow. It returns the
// limit in force (0 for none).
func setMemoryLimit(budget config.ByteSize, log *slog.Logger) int64 {
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		log.Info("memory limit from GOMEMLIMIT", "limit", v)
		return debug.SetMemoryLimit(-1)
	}
	total, from := int64(budget), "memory"
	if cg, err := memlimit.FromCgroup(); err == nil && cg > 0 && (total == 0 || int64(cg) < total) {
		total, from = int64(cg), "the cgroup's memory limit"
	}
	if total == 0 {
		log.Info("no memory limit (memory: 0)")
		return 0
	}
	limit := int64(float64(total) * goShare)
	debug.SetMemoryLimit(limit)
	log.Info("memory limit set", "from", from, "budget", config.ByteSize(total), "go_limit", config.ByteSize(limit))
	return limit
}
