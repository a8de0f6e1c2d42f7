package web

import (
	"net/http"
	"net/http/pprof"
	"strings"
)

// profiling serves Go's profiles (net/http/pprof) under /debug/pprof/ to
// admins: what a profile taken at a customer's site needs, off unless the
// configuration turns it on (http.pprof). A CPU profile or trace may last
// longer than the server's write timeout: pprof extends it.
func (s *Server) profiling(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", func(w http.ResponseWriter, r *http.Request) {
		if forbidNonAdmin(w, r, "reads the profiles") {
			return
		}
		switch strings.TrimPrefix(r.URL.Path, "/debug/pprof/") {
		case "cmdline":
			pprof.Cmdline(w, r)
		case "symbol":
			pprof.Symbol(w, r)
		case "profile":
			pprof.Profile(w, r)
		case "trace":
			pprof.Trace(w, r)
		default:
			// The index, and each named profile (heap, goroutine, allocs...).
			pprof.Index(w, r)
		}
	})
}
