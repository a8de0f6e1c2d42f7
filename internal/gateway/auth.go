package gateway

import (
	"bytes"
	"log/slog"
	"net"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"
)

// BrokerUser is a login of the built-in broker, for the devices or radio
// gateways of one customer.
type BrokerUser struct {
	Username string
	// PasswordHash is a bcrypt hash ('sensorhub hash-password' makes one).
	PasswordHash string
	// Customer is the customer the user sends for: a payload naming
	// another is rejected.
	Customer string
	// Topics are the topic filters the user may publish and subscribe to.
	Topics []string
}

// authHook logs clients in against the configured users, and keeps each
// one to its topics. Anonymous clients connect only when allowed, and may
// then use every topic.
type authHook struct {
	mqtt.HookBase
	users     map[string]BrokerUser
	anonymous bool
	log       *slog.Logger

	// failures bounds the failed logins of one address: past
	// failedLoginsPerMinute, its logins are refused without checking the
	// password, which costs a bcrypt comparison each.
	mu       sync.Mutex
	failures map[string]*rate.Limiter
}

const failedLoginsPerMinute = 5

func (h *authHook) ID() string { return "sensorhub-auth" }

func (h *authHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}

// OnConnectAuthenticate checks the username and password of a CONNECT.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	name := string(pk.Connect.Username)
	if name == "" {
		if !h.anonymous {
			h.log.Warn("built-in broker: anonymous client refused (mqtt.builtin.allow_anonymous is off)",
				"client", cl.ID, "remote", cl.Net.Remote)
		}
		return h.anonymous
	}
	l := h.limiter(cl.Net.Remote)
	if l.Tokens() < 1 {
		h.log.Warn("built-in broker: login refused: too many failed logins from this address in a minute", "user", name,
			"remote", cl.Net.Remote)
		return false
	}
	u, ok := h.users[name]
	if !ok || bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), pk.Connect.Password) != nil {
		l.Allow() // spend one failure
		h.log.Warn("built-in broker: login refused: unknown user or wrong password", "user", name, "client", cl.ID,
			"remote", cl.Net.Remote)
		return false
	}
	return true
}

// limiter is the failed-login limiter of a remote address.
func (h *authHook) limiter(remote string) *rate.Limiter {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failures == nil || len(h.failures) > 10000 {
		h.failures = map[string]*rate.Limiter{} // a flood of addresses: start again
	}
	l := h.failures[host]
	if l == nil {
		l = rate.NewLimiter(rate.Every(time.Minute/failedLoginsPerMinute), failedLoginsPerMinute)
		h.failures[host] = l
	}
	return l
}

// OnACLCheck keeps a user to its topic filters.
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	name := string(cl.Properties.Username)
	if name == "" {
		return h.anonymous
	}
	u, ok := h.users[name]
	if !ok {
		return false
	}
	for _, f := range u.Topics {
		if auth.RString(f).FilterMatches(topic) {
			return true
		}
	}
	verb := "subscribe to"
	if write {
		verb = "publish to"
	}
	h.log.Warn("built-in broker: "+verb+" a topic outside the user's topics refused", "user", name, "topic", topic,
		"allowed", u.Topics)
	return false
}

// customerOf is the customer a client is bound to; "" for an anonymous
// one.
func (h *authHook) customerOf(cl *mqtt.Client) string {
	if h == nil {
		return ""
	}
	return h.users[string(cl.Properties.Username)].Customer
}
