package main

import (
	"bufio"
	"bytes"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"

	"github.com/KimMachineGun/automemlimit/memlimit"

	"github.com/sensorhub/sensorhub/internal/config"
)

// outsideGo is what the memory budget keeps for what the Go runtime's
// limit does not count: the program's own pages as mapped from its file
// (codeBytes), and a quarter of the budget for SQLite's page cache and
// allocations, and for what the runtime's limit lets through before the
// collector catches up (at 10,000 devices sending, the resident set
// peaks at about 20 MiB above the limit plus the code). A quarter, not
// an eighth: under a burst the collector keeps the heap at the limit
// whatever the live heap, so the limit is the peak; at the default budget
// it is 144 MiB, which holds the reference load within 200 MiB resident.
func outsideGo(budget, codeBytes int64) int64 {
	return codeBytes + budget/4
}

// defaultCodeBytes is the program's resident pages when /proc does not
// say: what sensorhub's binary maps, measured on linux/amd64.
const defaultCodeBytes = 48 << 20

// codeBytes reads how much of this process' resident memory is mapped
// from files (RssFile in /proc/self/status): the binary's code and data.
func codeBytes() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return defaultCodeBytes
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 3 && string(f[0]) == "RssFile:" {
			if kb, err := strconv.ParseInt(string(f[1]), 10, 64); err == nil && kb > 0 {
				return max(kb<<10, defaultCodeBytes)
			}
		}
	}
	return defaultCodeBytes
}

// setMemoryLimit sets the Go runtime's soft memory limit from the
// configuration's budget (memory), or from the cgroup's limit when it is
// lower, unless GOMEMLIMIT sets it: the budget less what the runtime
// does not count (outsideGo), at least half of it. Near the limit the
// garbage collector works harder instead of letting the resident set
// grow. It returns the budget in force, which the store's caches follow
// (0 for none), and the Go limit (0 for none).
func setMemoryLimit(budget config.ByteSize, log *slog.Logger) (config.ByteSize, int64) {
	total, from := int64(budget), "memory"
	if cg, err := memlimit.FromCgroup(); err == nil && cg > 0 && (total == 0 || int64(cg) < total) {
		total, from = int64(cg), "the cgroup's memory limit"
	}
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		log.Info("memory limit from GOMEMLIMIT", "limit", v)
		return config.ByteSize(total), debug.SetMemoryLimit(-1)
	}
	if total == 0 {
		log.Info("no memory limit (memory: 0)")
		return 0, 0
	}
	limit := max(total-outsideGo(total, codeBytes()), total/2)
	debug.SetMemoryLimit(limit)
	log.Info("memory limit set", "from", from, "budget", config.ByteSize(total), "go_limit", config.ByteSize(limit))
	return config.ByteSize(total), limit
}
