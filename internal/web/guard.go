package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// What every answer carries: the pages load scripts and styles from this
// server only (no inline script runs), nothing frames them, browsers do
// not guess content types, and links to other sites carry no address.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
	"X-Content-Type-Options": "nosniff",
	"X-Frame-Options":        "DENY",
	"Referrer-Policy":        "same-origin",
}

func withSecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		next.ServeHTTP(w, r)
	})
}

// openGuard guards a server without users, which listens on loopback
// only: everyone who reaches it is an admin, so a page of another site in
// the same browser must not. Cross-origin writes are refused (a form or a
// script posting from another origin), and so is a Host this server is not
// known by (a name an attacker's DNS points at 127.0.0.1 to read the API).
func (s *Server) openGuard(next http.Handler) http.Handler {
	allowed := map[string]bool{}
	if u, err := url.Parse(s.PublicURL); err == nil && u.Hostname() != "" {
		allowed[strings.ToLower(u.Hostname())] = true
	}
	cop := http.NewCrossOriginProtection().Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !probe(r.URL.Path) && !knownHost(r.Host, allowed) {
			writeError(w, http.StatusMisdirectedRequest, fmt.Sprintf("this sensorhub is not served as %q: without users it answers on loopback names "+
				"(localhost, 127.0.0.1, [::1]) and the host of public_url only", r.Host))
			return
		}
		cop.ServeHTTP(w, r)
	})
}

// knownHost reports whether a request's Host names this server: a
// loopback name or address, or one of allowed.
func knownHost(hostport string, allowed map[string]bool) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || allowed[host] {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// probe paths answer whatever the Host: orchestrators call them by address.
func probe(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics"
}

// safeNext is where to go after login: a path of this site, or "/". A
// next that a browser would take off-site (//host, /\host, a scheme, a
// control character) is refused.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || len(next) > 1 && (next[1] == '/' || next[1] == '\\') ||
		strings.ContainsAny(next, "\\") || strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.IsAbs() || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}

// internal answers a request that failed on the server: the error goes to
// the log with a request id, the client gets the id only.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	id := requestID()
	s.Log.Error("request failed", "request_id", id, "method", r.Method, "path", r.URL.Path, "query", r.URL.RawQuery, "err", err)
	w.Header().Set("X-Request-Id", id)
	writeError(w, http.StatusInternalServerError, "internal error; the server's log has it under request_id "+id)
}

func requestID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// apiNotFound answers a request no API route took: 405 with the methods
// the path takes when another method would have been served, 404
// otherwise.
func (s *Server) apiNotFound(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if m == r.Method {
				continue
			}
			probe := r.Clone(context.Background())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != apiFallback {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
			return
		}
		msg := "no such API endpoint: " + r.Method + " " + r.URL.Path
		if r.URL.Path == "/api/v1/replay" && s.ReplayRaw == nil {
			msg += " (replay of the raw stream is served by the process that runs ingest, sensorhub run or sensorhub ingest)"
		} else if s.Store == nil {
			msg += " (this process runs " + strings.Join(s.Roles, ", ") + "; the API and pages are served by sensorhub web)"
		}
		writeError(w, http.StatusNotFound, msg)
	}
}

// apiFallback is the pattern of apiNotFound.
const apiFallback = "/api/"
