package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/locale"
)

// Access guards the web server: logins with sessions (scs) for people,
// API tokens for programs and devices, CSRF tokens on every state-changing
// request a session makes, and a limit on login attempts.
type Access struct {
	Dir      *auth.Directory
	Sessions *scs.SessionManager
	// TrustProxy takes the client's address and scheme from the
	// X-Forwarded-For and X-Forwarded-Proto headers of a reverse proxy.
	TrustProxy bool
	// Logins bounds the login attempts of one client address.
	Logins *auth.AddressLimits
	Log    *slog.Logger
}

// NewSessions makes the session manager: cookies that scripts cannot read
// (HttpOnly), sent to this site only (SameSite Lax), over HTTPS only when
// secure, that expire after lifetime, or after idle without a request.
func NewSessions(lifetime, idle time.Duration, secure bool) *scs.SessionManager {
	sm := scs.New()
	sm.Lifetime, sm.IdleTimeout = lifetime, idle
	sm.Cookie.Name = "sensorhub_session"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = secure
	sm.Cookie.Persist = false
	return sm
}

type principalKey struct{}

type validKey struct{}

func withPrincipal(ctx context.Context, p *auth.Principal, valid func() bool) context.Context {
	return context.WithValue(context.WithValue(ctx, principalKey{}, p), validKey{}, valid)
}

// stillAllowed reports, for a request that lasts (a live stream), whether
// what let it in still holds: its token not revoked, its session not
// ended by a logout, its user not removed.
func stillAllowed(r *http.Request) bool {
	if valid, ok := r.Context().Value(validKey{}).(func() bool); ok {
		return valid()
	}
	return true
}

// principalOf is who makes the request: the open principal when the
// server has no users.
func principalOf(r *http.Request) *auth.Principal {
	if p, ok := r.Context().Value(principalKey{}).(*auth.Principal); ok {
		return p
	}
	return auth.Open
}

// open paths need no login.
func open(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics" || path == "/login" ||
		strings.HasPrefix(path, "/assets/")
}

const (
	sessionUser = "user"
	sessionCSRF = "csrf"
)

// wrap puts the guard in front of next.
func (a *Access) wrap(next http.Handler) http.Handler {
	guard := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := r.Header.Get("Authorization"); h != "" {
			if user, password, ok := r.BasicAuth(); ok {
				a.basic(next, w, r, user, password)
				return
			}
			secret, ok := strings.CutPrefix(h, "Bearer ")
			if !ok {
				writeError(w, http.StatusUnauthorized, "unknown or revoked API token")
				return
			}
			a.token(next, w, r, strings.TrimSpace(secret))
			return
		}
		name := a.Sessions.GetString(r.Context(), sessionUser)
		p, ok := a.Dir.User(name)
		if name == "" || !ok {
			if open(r.URL.Path) {
				next.ServeHTTP(w, r)
				return
			}
			if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/prometheus/") {
				writeError(w, http.StatusUnauthorized, "log in, or give an API token: Authorization: Bearer <token>")
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if !safe(r.Method) && r.URL.Path != "/login" && !a.validCSRF(r) {
			writeError(w, http.StatusForbidden, "missing or wrong CSRF token: reload the page")
			return
		}
		token := a.Sessions.Token(r.Context())
		valid := func() bool {
			if _, ok := a.Dir.User(name); !ok {
				return false
			}
			_, found, err := a.Sessions.Store.Find(token)
			return err != nil || found // a store that cannot answer ends nothing
		}
		next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), p, valid)))
	})
	// Browsers' own cross-origin checks come first; sessions around all.
	return a.Sessions.LoadAndSave(http.NewCrossOriginProtection().Handler(guard))
}

// token serves a request that gives an API token.
func (a *Access) token(next http.Handler, w http.ResponseWriter, r *http.Request, secret string) {
	p, known := a.Dir.Token(secret)
	if !known {
		writeError(w, http.StatusUnauthorized, "unknown or revoked API token")
		return
	}
	if p.IngestOnly && r.URL.Path != "/api/v1/ingest" && !open(r.URL.Path) {
		writeError(w, http.StatusForbidden, "this token may only send messages (POST /api/v1/ingest)")
		return
	}
	valid := func() bool { _, ok := a.Dir.Token(secret); return ok }
	next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), p, valid)))
}

// basic serves a request that gives Basic credentials, as Grafana's data
// sources can: an API token as the password (any username), or a user's
// password, checked on every request (bcrypt: a token is cheaper), a
// wrong one counted against the login attempts of the client's address.
func (a *Access) basic(next http.Handler, w http.ResponseWriter, r *http.Request, user, password string) {
	if _, ok := a.Dir.Token(password); ok {
		a.token(next, w, r, password)
		return
	}
	ip := a.clientIP(r)
	if a.Logins.Exhausted(ip) {
		w.Header().Set("Retry-After", "60")
		writeError(w, http.StatusTooManyRequests, "too many wrong passwords from this address: wait a minute")
		return
	}
	p, err := a.Dir.Login(user, password)
	if err != nil {
		a.Logins.Allow(ip)
		a.Log.Warn("basic authentication failed", "ip", ip, "user", user)
		writeError(w, http.StatusUnauthorized, "wrong username or password")
		return
	}
	valid := func() bool { _, ok := a.Dir.User(user); return ok }
	next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), p, valid)))
}

func safe(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// validCSRF compares the request's CSRF token, from the X-CSRF-Token
// header or the csrf_token form field, with the session's.
func (a *Access) validCSRF(r *http.Request) bool {
	want := a.Sessions.GetString(r.Context(), sessionCSRF)
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf_token")
	}
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// csrfToken is the session's CSRF token, for pages to put in forms and
// scripts in their requests.
func (a *Access) csrfToken(r *http.Request) string {
	if a == nil {
		return ""
	}
	return a.Sessions.GetString(r.Context(), sessionCSRF)
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// clientIP is the request's client address. Behind a trusted proxy it is
// the address the proxy saw, the last entry of X-Forwarded-For: the ones
// before it are what the client itself claims.
func (a *Access) clientIP(r *http.Request) string {
	if a.TrustProxy {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			hops := strings.Split(xff[len(xff)-1], ",")
			if last := strings.TrimSpace(hops[len(hops)-1]); last != "" {
				return last
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// login serves GET and POST /login.
func (a *Access) login(p *Pages) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		next := safeNext(r.FormValue("next"))
		data := struct {
			Title, Next, Error, Username, Lang string
		}{Title: "Log in", Next: next, Lang: locale.Or(p.config().Locale).Tag()}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
			data.Username = r.PostFormValue("username")
			if !a.Logins.Allow(a.clientIP(r)) {
				a.Log.Warn("login attempts refused: too many from one address", "ip", a.clientIP(r), "user", data.Username)
				w.Header().Set("Retry-After", "60")
				data.Error = "Too many login attempts: wait a minute."
				p.renderStatus(w, r, http.StatusTooManyRequests, "login.html", data)
				return
			}
			pr, err := a.Dir.Login(data.Username, r.PostFormValue("password"))
			if err != nil {
				a.Log.Warn("login failed", "ip", a.clientIP(r), "user", data.Username)
				data.Error = "Wrong username or password."
				p.renderStatus(w, r, http.StatusUnauthorized, "login.html", data)
				return
			}
			// A new session token on login: a token planted before cannot
			// be used after.
			if err := a.Sessions.RenewToken(r.Context()); err != nil {
				p.Server.internal(w, r, err)
				return
			}
			a.Sessions.Put(r.Context(), sessionUser, pr.Name)
			a.Sessions.Put(r.Context(), sessionCSRF, randomToken())
			a.Log.Info("logged in", "user", pr.Name, "role", pr.Role, "ip", a.clientIP(r))
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		p.renderStatus(w, r, http.StatusOK, "login.html", data)
	}
}

// logout serves POST /logout.
func (a *Access) logout(w http.ResponseWriter, r *http.Request) {
	a.Sessions.Destroy(r.Context())
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
