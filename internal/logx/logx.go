// Package logx holds logging helpers on top of log/slog.
package logx

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// New returns a logger writing text or JSON at the given level.
func New(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Limiter lets one log line through per key and interval, and counts the
// lines it held back, so that a device that floods cannot flood the log.
type Limiter struct {
	log      *slog.Logger
	interval time.Duration
	mu       sync.Mutex
	keys     map[string]*entry
}

type entry struct {
	last       time.Time
	suppressed int
}

// NewLimiter returns a Limiter that logs to log at most once per interval
// per key.
func NewLimiter(log *slog.Logger, interval time.Duration) *Limiter {
	return &Limiter{log: log, interval: interval, keys: map[string]*entry{}}
}

// Log logs msg with args unless a line with the same key was logged less
// than the interval ago. The next line let through says how many were held.
func (l *Limiter) Log(ctx context.Context, level slog.Level, key, msg string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	e := l.keys[key]
	if e == nil {
		if len(l.keys) > 10000 {
			l.keys = map[string]*entry{} // bound memory under a flood of keys
		}
		e = &entry{}
		l.keys[key] = e
	}
	if !e.last.IsZero() && now.Sub(e.last) < l.interval {
		e.suppressed++
		l.mu.Unlock()
		return
	}
	held := e.suppressed
	e.last, e.suppressed = now, 0
	l.mu.Unlock()
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	l.log.Log(ctx, level, msg, args...)
}
