package gateway

import (
	"bytes"
	"log/slog"
	"net"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"

	shauth "github.com/sensorhub/sensorhub/internal/auth"
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

	// failures bounds the failed logins of one address: past five a
	// minute, its logins are refused without checking the password,
	// which costs a bcrypt comparison each.
	failures shauth.AddressLimits
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
	host, _, err := net.SplitHostPort(cl.Net.Remote)
	if err != nil {
		host = cl.Net.Remote
	}
	if h.failures.Exhausted(host) {
		h.log.Warn("built-in broker: login refused: too many failed logins from this address in a minute", "user", name,
			"remote", cl.Net.Remote)
		return false
	}
	u, ok := h.users[name]
	if !ok || bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), pk.Connect.Password) != nil {
		h.failures.Allow(host) // spend one failure
		h.log.Warn("built-in broker: login refused: unknown user or wrong password", "user", name, "client", cl.ID,
			"remote", cl.Net.Remote)
		return false
	}
	return true
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
