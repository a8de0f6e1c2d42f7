package testenv

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// WebClient is a browser-like client of one sensorhub web server: cookies
// kept, redirects not followed, the session's CSRF token read from its
// pages after a login; or a program with an API token.
type WebClient struct {
	T    testing.TB
	Base string
	HTTP *http.Client
	// CSRF is the session's CSRF token, set by Login.
	CSRF string
	// Token, when set, is sent as a bearer token.
	Token string
}

// NewWebClient makes a client of the server at base (http://host:port).
func NewWebClient(t testing.TB, base string) *WebClient {
	jar, _ := cookiejar.New(nil)
	return &WebClient{T: t, Base: base, HTTP: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Do sends a request with the headers given as name, value pairs and
// returns the status and the body.
func (c *WebClient) Do(method, path, body string, hdr ...string) (int, string) {
	c.T.Helper()
	req, err := http.NewRequest(method, c.Base+path, strings.NewReader(body))
	if err != nil {
		c.T.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// Login logs in through the form and reads the CSRF token of the pages.
// It returns the login's status: 303 when it succeeded.
func (c *WebClient) Login(user, password string) int {
	c.T.Helper()
	form := url.Values{"username": {user}, "password": {password}, "next": {"/"}}
	code, _ := c.Do("POST", "/login", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if code != http.StatusSeeOther {
		return code
	}
	code, page := c.Do("GET", "/", "")
	m := csrfMeta.FindStringSubmatch(page)
	if code != 200 || m == nil {
		c.T.Fatalf("overview after login: %d, no CSRF token in the page", code)
	}
	c.CSRF = m[1]
	return http.StatusSeeOther
}

// Post sends a state-changing JSON request with the session's CSRF token.
func (c *WebClient) Post(path, body string) (int, string) {
	return c.Do("POST", path, body, "Content-Type", "application/json", "X-CSRF-Token", c.CSRF)
}
